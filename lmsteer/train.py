"""Train a steer on a frozen LM, with the LM's last hidden states computed once and cached.

Because the LM is frozen and the steer acts only on the output side, each training text's
last hidden states never change: one no-grad forward pass caches them (float16), and every
step costs only the low-rank steer plus the output-matrix product.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from .errors import TrainingError
from .io import atomic_path, write_json
from .headloss import head_parts, token_nll
from .models import model_device
from .precision import resolve_dtype
from .steer import Steer, SteerConfig, output_matrix_sha256

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """The paper's recipe (Adam, lr 1e-2, eps 1e-3, labels -1/+1, dummy steer at 1), sized."""

    rank: int = 64
    epsilon: float = 1e-3
    init_scale: float = 1e-2
    num_steers: int = 2
    lr: float = 1e-2
    steps: int = 200
    batch_size: int = 32
    max_length: int = 64
    regularization: float = 0.0
    dummy_value: float = 1.0
    cache_batch_size: int = 32
    checkpoint_every: int = 50
    seed: int = 0
    base_model: str = ""
    cache_dir: str = ""
    head_dtype: str = "float32"  # of the frozen output product; "auto": bfloat16 where native

    @classmethod
    def from_params(cls, params: dict[str, Any], seed: int) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in names}, seed=seed)


@dataclass
class HiddenCache:
    """Flattened per-token training rows: hidden (N, d) predicts target (N,) of example ex (N,)."""

    hidden: torch.Tensor  # (N, d) float16
    target: torch.Tensor  # (N,) long
    example: torch.Tensor  # (N,) long, index into the training pairs
    offsets: torch.Tensor  # (E + 1,) row range of each example


@torch.no_grad()
def cache_hidden_states(model: nn.Module, tok: Any, texts: Sequence[str], max_length: int,
                        batch_size: int = 32, progress: bool = True) -> HiddenCache:
    """One frozen forward over ``texts``; keeps the last hidden states that predict each token.

    Texts are batched in order of token length, so a batch pads to about its own length
    rather than its longest outlier (on the detox tweets 2.2x fewer padded tokens); the rows
    come back in the order of ``texts``."""
    base = model.base_model
    ids = tok(list(texts), truncation=True, max_length=max_length)["input_ids"]  # unpadded
    order = sorted(range(len(texts)), key=lambda j: (len(ids[j]), j))  # stable by length
    per_text: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(texts)
    pad_side = tok.padding_side
    tok.padding_side = "right"
    try:
        for i in tqdm(range(0, len(order), batch_size), desc="cache hidden states",
                      disable=not progress, leave=False):
            idx = order[i:i + batch_size]
            enc = tok.pad({"input_ids": [ids[j] for j in idx]}, return_tensors="pt"
                          ).to(model_device(model))  # padded to the batch's longest
            h = base(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
                     ).last_hidden_state  # (B, T, d)
            for r, j in enumerate(idx):
                n = len(ids[j])  # real tokens; padding is on the right
                per_text[j] = (h[r, :max(n - 1, 0)].to(torch.float16).cpu(),  # the cache: CPU
                               enc["input_ids"][r, 1:n].cpu())
    finally:
        tok.padding_side = pad_side
    hid, tgt, ex, offsets = [], [], [], [0]
    for j, (h_j, t_j) in enumerate(per_text):  # back in the order of texts
        hid.append(h_j)
        tgt.append(t_j)
        ex.append(torch.full((len(t_j),), j, dtype=torch.long))
        offsets.append(offsets[-1] + len(t_j))
    return HiddenCache(torch.cat(hid), torch.cat(tgt), torch.cat(ex), torch.tensor(offsets))


def cached_hidden_states(model: nn.Module, tok: Any, texts: Sequence[str], max_length: int,
                         batch_size: int, cache_dir: Path | None, model_sha256: str,
                         progress: bool = True) -> HiddenCache:
    """:func:`cache_hidden_states`, reused from ``cache_dir`` when the same model (its output
    matrix sha256, as in the steer config), texts and max_length were cached before."""
    if cache_dir is None:
        return cache_hidden_states(model, tok, texts, max_length, batch_size, progress)
    key = hashlib.sha256(json.dumps([model_sha256, type(model).__name__,
                                     max_length, list(texts)]).encode()).hexdigest()[:24]
    path = Path(cache_dir) / f"hidden-{key}.safetensors"
    if path.is_file():
        t = load_file(str(path))
        log.info("reusing cached hidden states %s", path)
        return HiddenCache(t["hidden"], t["target"], t["example"], t["offsets"])
    cache = cache_hidden_states(model, tok, texts, max_length, batch_size, progress)
    with atomic_path(path) as tmp:
        save_file(asdict(cache), str(tmp))
    return cache


def batch_examples(n_examples: int, batch_size: int, seed: int, step: int) -> torch.Tensor:
    """Example indices of a seeded random batch; depends only on (seed, step) -> resumable."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return torch.randperm(n_examples, generator=gen)[:batch_size]


def _batch_rows(cache: HiddenCache, n_examples: int, batch_size: int, seed: int,
                step: int) -> torch.Tensor:
    """Cached token rows of :func:`batch_examples`, example after example."""
    exs = batch_examples(n_examples, batch_size, seed, step)
    return torch.cat([torch.arange(int(cache.offsets[e]), int(cache.offsets[e + 1])) for e in exs])


def steer_loss(model: nn.Module, steer: Steer, hidden: torch.Tensor, values: torch.Tensor,
               target: torch.Tensor, head_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean token NLL of ``target`` under steered logits; hidden (N, d), values (N, S).

    ``head_weight`` (V, d) may be a lower-precision copy of the frozen output matrix (mixed
    precision for the one big product); the steer itself always trains in float32. The
    product and the cross-entropy run chunked (:func:`lmsteer.headloss.token_nll`).
    """
    steered = steer.steer_hidden(hidden, values)  # (N, d)
    weight, bias, cap = head_parts(model, steer.base_head, head_weight)
    return token_nll(steered, weight.detach(), target,
                     None if bias is None else bias.detach(), cap).mean()


def _save_checkpoint(ckpt: Path, steer: Steer, opt: torch.optim.Optimizer, step: int,
                     losses: list[float]) -> None:
    """Write the steer, the optimizer state and progress.json (last) into ``ckpt``.new, then
    swap it in: a kill at any point leaves one complete checkpoint (:func:`_recover_checkpoint`)."""
    new, old = _ckpt_sibling(ckpt, "new"), _ckpt_sibling(ckpt, "old")
    if new.exists():
        shutil.rmtree(new)
    steer.save(new)
    st = opt.state_dict()["state"]
    tensors = {f"{k}.{name}": v.detach().clone().reshape(-1) if v.ndim == 0 else v.detach().clone()
               for k, s in st.items() for name, v in s.items()}
    with atomic_path(new / "optimizer.safetensors") as tmp:
        save_file(tensors, str(tmp))
    write_json(new / "progress.json", {"step": step, "losses": losses,
                                       "config": asdict(steer_train_config(steer))})
    if ckpt.exists():
        if old.exists():  # a stale one (recovery at train start removes them): ckpt is complete
            shutil.rmtree(old)
        ckpt.rename(old)
    new.rename(ckpt)
    if old.exists():
        shutil.rmtree(old)


def _ckpt_sibling(ckpt: Path, tag: str) -> Path:
    return ckpt.with_name(f"{ckpt.name}.{tag}")


def _recover_checkpoint(ckpt: Path) -> None:
    """Finish or undo a checkpoint swap that a kill interrupted: without a complete ``ckpt``,
    take the complete .new (newer) or else .old; then drop the leftovers."""
    if not (ckpt / "progress.json").is_file():
        for cand in (_ckpt_sibling(ckpt, "new"), _ckpt_sibling(ckpt, "old")):
            if (cand / "progress.json").is_file():  # progress.json is written last
                if ckpt.exists():
                    shutil.rmtree(ckpt)
                cand.rename(ckpt)
                log.info("recovered the checkpoint of an interrupted save from %s", cand)
                break
    for d in (_ckpt_sibling(ckpt, "new"), _ckpt_sibling(ckpt, "old")):
        if d.exists():
            shutil.rmtree(d)


def steer_train_config(steer: Steer) -> TrainConfig:
    return TrainConfig(**steer.config.extra["train"])


def _load_checkpoint(ckpt: Path, steer: Steer, opt: torch.optim.Optimizer) -> tuple[int, list]:
    loaded = Steer.load(ckpt)
    with torch.no_grad():
        steer.projector1.copy_(loaded.projector1)
        steer.projector2.copy_(loaded.projector2)
    tensors = load_file(str(ckpt / "optimizer.safetensors"))
    state = opt.state_dict()
    for k in state["param_groups"][0]["params"]:
        entry = {n.split(".", 1)[1]: t for n, t in tensors.items() if n.split(".", 1)[0] == str(k)}
        if entry:
            entry["step"] = entry["step"].reshape(())
            state["state"][k] = entry
    opt.load_state_dict(state)
    prog = json.loads((ckpt / "progress.json").read_text())
    return int(prog["step"]), list(prog["losses"])


def subset_cache(cache: HiddenCache, examples: Sequence[int]) -> HiddenCache:
    """The cached rows of ``examples`` only, renumbered 0..k-1 in the given order."""
    parts = [torch.arange(int(cache.offsets[e]), int(cache.offsets[e + 1])) for e in examples]
    rows = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)
    sizes = torch.tensor([len(p) for p in parts], dtype=torch.long)
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), sizes.cumsum(0)])
    example = torch.repeat_interleave(torch.arange(len(parts)), sizes)
    return HiddenCache(cache.hidden[rows], cache.target[rows], example, offsets)


def train_steer(model: nn.Module, tok: Any, data: Sequence[tuple[str, float]], cfg: TrainConfig,
                out_dir: Path, progress: bool = True, cache: HiddenCache | None = None
                ) -> tuple[Steer, dict[str, Any]]:
    """Train steer 0 on (text, value) pairs with steer 1 fixed at ``dummy_value``; save it.

    ``cache`` (the hidden states of exactly ``data``'s texts, e.g. a :func:`subset_cache`)
    skips the frozen forward pass. Checkpoints go to ``out_dir/checkpoint`` every
    ``checkpoint_every`` steps; a rerun resumes.
    """
    out_dir = Path(out_dir)
    t0 = time.time()
    torch.manual_seed(cfg.seed)
    head = model.get_output_embeddings()
    # "auto" -> the dtype this device runs natively; the steer config records the resolved one
    cfg = replace(cfg, head_dtype=resolve_dtype(cfg.head_dtype, head.weight.device))
    scfg = SteerConfig(num_steers=cfg.num_steers, rank=cfg.rank, epsilon=cfg.epsilon,
                       init_scale=cfg.init_scale, hidden_size=head.weight.shape[1],
                       base_model=cfg.base_model, base_sha256=output_matrix_sha256(model),
                       extra={"train": asdict(cfg)})
    steer = Steer(scfg, seed=cfg.seed).attach(model)
    texts = [t for t, _ in data]
    labels = torch.tensor([v for _, v in data], dtype=torch.float32)  # (E,)
    if cache is None:
        cache = cached_hidden_states(model, tok, texts, cfg.max_length, cfg.cache_batch_size,
                                     Path(cfg.cache_dir) if cfg.cache_dir else None,
                                     scfg.base_sha256, progress)
    elif len(cache.offsets) != len(texts) + 1:
        raise TrainingError(f"cache holds {len(cache.offsets) - 1} examples, data has {len(texts)}")
    t_cache = time.time() - t0
    log.info("cached %d token rows (%.1f MB) in %.1fs", cache.hidden.shape[0],
             cache.hidden.numel() * 2 / 1e6, t_cache)
    opt = torch.optim.Adam([steer.projector1, steer.projector2], lr=cfg.lr)
    head_w = None if cfg.head_dtype == "float32" else \
        steer.base_head.weight.detach().to(getattr(torch, cfg.head_dtype))  # (V, d)
    ckpt = out_dir / "checkpoint"
    start, losses = 0, []
    _recover_checkpoint(ckpt)
    if (ckpt / "progress.json").is_file():
        saved = json.loads((ckpt / "progress.json").read_text()).get("config")
        if saved == asdict(cfg):
            start, losses = _load_checkpoint(ckpt, steer, opt)
            log.info("resuming training from step %d", start)
        else:
            log.warning("ignoring checkpoint in %s: it was made with another config", ckpt)
    bar = tqdm(range(start, cfg.steps), desc="train steer", disable=not progress,
               initial=start, total=cfg.steps)
    for step in bar:
        rows = _batch_rows(cache, len(texts), cfg.batch_size, cfg.seed, step)
        values = torch.stack([labels[cache.example[rows]],
                              torch.full((len(rows),), cfg.dummy_value)], dim=1)  # (N, 2)
        dev = steer.projector1.device
        loss = steer_loss(model, steer, cache.hidden[rows].to(dev).float(), values.to(dev),
                          cache.target[rows].to(dev), head_w)
        if not math.isfinite(loss.item()):
            raise TrainingError(f"loss became {loss.item()} at step {step}; the last good "
                                f"checkpoint is kept in {ckpt} (lower lr or epsilon)")
        total = loss + cfg.regularization * steer.regularization() if cfg.regularization else loss
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        losses.append(round(loss.item(), 6))
        bar.set_postfix(loss=f"{loss.item():.4f}")
        if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < cfg.steps:
            _save_checkpoint(ckpt, steer, opt, step + 1, losses)
    steer.save(out_dir)
    info = {"steps": cfg.steps, "losses": losses, "examples": len(texts),
            "token_rows": int(cache.hidden.shape[0]), "cache_seconds": round(t_cache, 2),
            "seconds": round(time.time() - t0, 2), "trainable_parameters": steer.num_parameters()}
    write_json(out_dir / "train_log.json", info)
    return steer, info
