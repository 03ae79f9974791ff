"""Import a steer trained by the authors' LM-Steer code into this project's steer folder.

Their training script saves the list ``[args, steer_state, step]`` with torch: ``args`` an
``argparse.Namespace`` (model_name, adaptor_class, adapted_component, rank, epsilon, init_var,
num_steers, dummy_steer, ...), ``steer_state`` ``{"projector1", "projector2"}`` of shape
(num_steers, d, rank) for their "multiply" adaptor on the output embeddings, and the step.
Their logits, ``(c + eps * sum_i s_i (c P1_i) P2_i^T) . e_v``, are this project's
:meth:`lmsteer.steer.Steer.steer_hidden` with the same ``P1``, ``P2`` and ``eps``, so the
projectors carry over unchanged. The file is a pickle: it is read with ``weights_only=True``
and an allow-list of exactly the one class it needs (``argparse.Namespace``).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SteerLoadError

if TYPE_CHECKING:  # torch loads lazily: `lmsteer --help` and the table verbs never need it
    import torch

log = logging.getLogger(__name__)

ALLOWED_GLOBALS = [argparse.Namespace]
UNSUPPORTED = {"add": "add_vec", "offset": "offset_vec"}


def read_original(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor], int]:
    """(args as a dict, {projector1, projector2}, step) from an authors' checkpoint; anything
    else (another layout, a class outside the allow-list, another adaptor) is SteerLoadError."""
    import torch

    try:
        with torch.serialization.safe_globals(ALLOWED_GLOBALS):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as e:
        raise SteerLoadError(f"{path}: no such checkpoint") from e
    except Exception as e:  # the unpickler raises several types for refused or broken files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SteerLoadError(f"{path}: not a checkpoint of the authors' LM-Steer code that "
                             f"loads safely ({first})") from e
    if not (isinstance(ckpt, (list, tuple)) and len(ckpt) == 3
            and isinstance(ckpt[0], argparse.Namespace) and isinstance(ckpt[1], dict)):
        raise SteerLoadError(f"{path}: expected [args Namespace, steer state dict, step] as the "
                             "authors' training script saves it")
    args, state, step = vars(ckpt[0]), ckpt[1], ckpt[2]
    kind = args.get("adaptor_class", "multiply")
    if kind in UNSUPPORTED or any(k in state for k in UNSUPPORTED.values()):
        raise SteerLoadError(f"{path}: the authors' {kind!r} adaptor is not supported (only "
                             "'multiply', the paper's LM-Steer, converts: 'add' and 'offset' "
                             "are other methods)")
    if kind != "multiply":
        raise SteerLoadError(f"{path}: unknown adaptor_class {kind!r}")
    where = args.get("adapted_component", "final_layer")
    if where != "final_layer":
        raise SteerLoadError(f"{path}: adapted_component {where!r} is not supported (only "
                             "'final_layer', the output embeddings)")
    tensors = {}
    for name in ("projector1", "projector2"):
        t = state.get(name)
        if not isinstance(t, torch.Tensor) or t.ndim != 3:
            raise SteerLoadError(f"{path}: {name} missing or not a (num_steers, d, rank) tensor")
        tensors[name] = t.detach().to(torch.float32).contiguous()
    if tensors["projector1"].shape != tensors["projector2"].shape:
        raise SteerLoadError(f"{path}: projector1 {tuple(tensors['projector1'].shape)} and "
                             f"projector2 {tuple(tensors['projector2'].shape)} differ in shape")
    return args, tensors, int(step) if isinstance(step, (int, float)) else -1


def steer_order(args: dict[str, Any], num_steers: int, path: Path) -> list[int]:
    """Their steer indices in this project's order: the trained steer (``training_steer``)
    first, the always-on one (``dummy_steer``) second, any others after."""
    picks = [args.get("training_steer") or 0]
    if args.get("dummy_steer") is not None:
        picks.append(args["dummy_steer"])
    for i in picks:
        if not isinstance(i, int) or not 0 <= i < num_steers:
            raise SteerLoadError(f"{path}: steer index {i!r} (training_steer / dummy_steer) is "
                                 f"not one of the {num_steers} steers")
    order = list(dict.fromkeys(picks))
    return order + [i for i in range(num_steers) if i not in order]


def import_original(ckpt: Path, out: Path, model: torch.nn.Module | None = None,
                    model_name: str = "") -> Path:
    """Convert ``ckpt`` into a steer folder at ``out``; with ``model``, check that the steer
    fits it and record its output matrix's sha256 (generation then refuses other models)."""
    import torch

    from .steer import Steer, SteerConfig, output_matrix_sha256

    args, tensors, step = read_original(Path(ckpt))
    s, d, r = tensors["projector1"].shape
    order = steer_order(args, s, Path(ckpt))
    tensors = {k: v[order] for k, v in tensors.items()}
    cfg = SteerConfig(num_steers=s, rank=r, epsilon=float(args.get("epsilon", 1e-3)),
                      init_scale=float(args.get("init_var", 1e-2)), hidden_size=d,
                      base_model=model_name or str(args.get("model_name", "")),
                      extra={"imported_from": str(ckpt), "original_step": step,
                             "original_args": {k: v for k, v in args.items()
                                               if isinstance(v, (int, float, str, bool))
                                               or v is None},
                             "original_steer_order": order})
    steer = Steer(cfg)
    with torch.no_grad():
        steer.projector1.copy_(tensors["projector1"])
        steer.projector2.copy_(tensors["projector2"])
    if not (torch.isfinite(steer.projector1).all() and torch.isfinite(steer.projector2).all()):
        raise SteerLoadError(f"{ckpt}: the projectors hold NaN or infinite values")
    if model is not None:
        steer.check_fits(model)  # hidden size
        cfg.base_sha256 = output_matrix_sha256(model)
    steer.save(out)
    log.info("imported %s (%d steers, d=%d, rank %d, eps %g, step %d) -> %s", ckpt, s, d, r,
             cfg.epsilon, step, out)
    return Path(out)


def cmd_import_original(a: argparse.Namespace) -> None:
    """``lmsteer import-original``: refuses to overwrite a steer unless ``--force``."""
    from .errors import LMSteerError
    from .steer import CONFIG_NAME, WEIGHTS_NAME

    out = Path(a.out)
    if not a.force and any((out / n).exists() for n in (CONFIG_NAME, WEIGHTS_NAME)):
        raise LMSteerError(f"{out} already holds a steer; choose another --out or add --force")
    model = None
    if a.model:
        from .models import load_model

        model, _ = load_model(a.model, offline=not a.online)
    import_original(Path(a.checkpoint), out, model, a.model or "")


def add_import_original(sub: argparse._SubParsersAction) -> None:
    """Register the ``import-original`` verb."""
    s = sub.add_parser("import-original", help="convert a steer checkpoint of the authors' "
                       "LM-Steer code (torch.save of [args, {projector1, projector2}, step]) "
                       "into a steer folder that `generate --method lm_steer --artifact` uses",
                       description=__doc__.split("\n\n")[0])
    s.add_argument("checkpoint", help="the authors' checkpoint file (--ckpt_name of their code)")
    s.add_argument("--out", required=True, help="steer folder to write")
    s.add_argument("--model", help="the base model it was trained on (checks the hidden size and "
                   "records the model's identity, so the steer refuses other models)")
    s.add_argument("--online", action="store_true", help="allow hub downloads for --model")
    s.add_argument("--force", action="store_true", help="overwrite a steer already at --out")
    s.set_defaults(func=cmd_import_original, locks=("out",))
