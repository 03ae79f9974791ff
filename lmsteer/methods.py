"""One interface for every controlled-generation method, and the method registry.

A method answers two questions: how to train (or not) from attribute data, and how to make the
model produce controlled next-token logits for a batch at a given control strength (a scalar
for the batch, or one value per sample). Generation, scoring and tables never special-case a
method. ``baselines/`` registers the paper's comparison methods into the same registry.
"""
from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, Iterator, Sequence

import torch
from torch import nn

from .errors import LMSteerError
from .registry import Registry
from .train import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class LMSteerParams(TrainConfig):
    """LM-Steer's parameters: its training (:class:`lmsteer.train.TrainConfig`) and generation
    -- ``dummy_value`` the always-on second steer's value, ``fold`` folds a fixed value into
    the output matrix."""

    fold: bool = True


@dataclass
class NoParams:
    """The parameters of a method that takes none."""


def _cast(method: str, key: str, value: Any, default: Any) -> Any:
    """``value`` as the type of the field's default (YAML and ``--param`` values arrive parsed:
    numbers as numbers, lists as lists); a value that does not fit is an LMSteerError."""
    kind = type(default)
    try:
        if default is None or isinstance(value, kind) and not (kind is int and
                                                              isinstance(value, bool)):
            return value
        if kind is bool or kind is str and not isinstance(value, (int, float)):
            raise TypeError
        if kind in (list, tuple):
            return kind(value) if isinstance(value, (list, tuple)) else kind([value])
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise TypeError
        return kind(value)
    except (TypeError, ValueError):
        raise LMSteerError(f"{method}: parameter {key}={value!r} is not a "
                           f"{kind.__name__}") from None


class Method:
    """Base class of every method; the unsteered model (``original``) is :class:`Original`.

    A subclass declares its parameters as a dataclass ``Params`` (every field with a default);
    ``self.p`` holds them typed, ``self.params`` the values as given (recorded in records)."""

    name = "original"
    artifact_dir = "trained"  # the folder under runs/<task>/<model>/<method>/ that fit() writes
    # model(...) inside control() treats every row on its own (no per-row state, no auxiliary
    # model with a cache of its own), so a prompt's pass may be shared by its samples; opt-in
    row_independent = False
    # control() takes a (B,) tensor: one strength per sequence of the batch (a strength sweep
    # then samples its whole grid in the same batches, lmsteer/sweep.py); opt-in
    per_sample_strength = False

    @classmethod
    def needs_fit(cls) -> bool:
        """Whether the method learns from the attribute data: it overrides :meth:`fit`, and its
        load() reads what fit() wrote (the DAG gives it a training job). Never configured."""
        return cls.fit is not Method.fit

    Params: ClassVar[type] = NoParams

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.p = self.parse_params(params)

    @classmethod
    def parse_params(cls, params: dict[str, Any]) -> Any:
        """``params`` -> a ``Params`` instance; unknown names list the valid ones."""
        known = {f.name: f for f in fields(cls.Params)}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise LMSteerError(f"{cls.name}: unknown parameter{'s' * (len(unknown) > 1)} "
                               f"{', '.join(unknown)}; valid: {', '.join(sorted(known)) or 'none'}")
        defaults = {k: f.default if f.default is not MISSING else f.default_factory()
                    for k, f in known.items()}
        for k, f in known.items():  # an optional field (default None) casts by its annotation
            if defaults[k] is None and "str" in str(f.type):
                defaults[k] = ""
        return cls.Params(**{k: v if v is None else _cast(cls.name, k, v, defaults[k])
                             for k, v in params.items()})

    @classmethod
    def param_default(cls, key: str) -> Any:
        return getattr(cls.Params(), key)
    # small settings for the method contract test on tiny random LMs (tests/unit/
    # test_method_contract.py); and whether its control acts on the LM's forward pass (a
    # teacher-forced check of direction), or only on the conditioning text or the sampler
    contract_params: dict[str, Any] = {}
    steers_forward = True

    def opt(self, key: str) -> Any:
        """Parameter ``key``: the given value, else the class's default, typed."""
        return getattr(self.p, key)

    def fit(self, model: nn.Module, tok: Any, data: Sequence[tuple[str, float]],
            out_dir: Path, seed: int) -> dict[str, Any]:
        """Train from (text, attribute value) pairs and save artifacts to ``out_dir``."""
        return {}

    def load(self, model: nn.Module, tok: Any, artifact_dir: Path | None) -> None:
        """Prepare ``model`` for controlled generation from saved artifacts: the tensors in
        ``artifact_dir`` and :attr:`saved_state` (what :meth:`artifact_state` returned)."""

    saved_state: dict[str, Any] = {}

    def artifact_state(self) -> dict[str, Any]:
        """JSON state that fit() derived and load() needs besides tensors (e.g. a word list)."""
        return {}

    def save_pretrained(self, out_dir: str | Path, **provenance: Any) -> Path:
        """Write the artifact folder's config, ``method.json`` -- the method, its parameters,
        its JSON state, and ``provenance`` -- beside the safetensors files fit() wrote. Every
        method's artifact folder has this one layout: ``method.json`` + ``*.safetensors``."""
        from .io import write_json

        out = Path(out_dir)
        write_json(out / ARTIFACT_CONFIG, {"method": self.name, **provenance,
                                           **self.describe(), "state": self.artifact_state()})
        return out

    @classmethod
    def from_pretrained(cls, artifact_dir: str | Path | None, model: nn.Module, tok: Any,
                        **params: Any) -> "Method":
        """An instance with ``params``, loaded onto ``model`` from a folder that
        :meth:`save_pretrained` wrote (``None`` for a method that does not train)."""
        method = cls(**params)
        path = Path(artifact_dir) / ARTIFACT_CONFIG if artifact_dir is not None else None
        # a folder without method.json (a bare steer from import-original) loads its tensors
        # alone; load() says what is missing where the method needs its saved state
        if path is not None and path.is_file():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
            except ValueError as e:
                raise LMSteerError(f"{path}: not valid JSON ({e})") from e
            if saved.get("method") != cls.name:
                raise LMSteerError(f"{artifact_dir} holds a {saved.get('method')!r} artifact, "
                                   f"not {cls.name!r}")
            method.saved_state = saved.get("state") or {}
        method.load(model, tok, Path(artifact_dir) if artifact_dir is not None else None)
        if artifact_dir is not None:
            method.artifact_hash = artifact_sha256(artifact_dir)
        return method

    @contextlib.contextmanager
    def control(self, model: nn.Module, strength: float | torch.Tensor) -> Iterator[None]:
        """Within the block, ``model(...)`` yields logits controlled at ``strength``."""
        yield

    def prompt_for(self, text: str, strength: float | torch.Tensor) -> str:
        """The text the model is conditioned on (prompting methods add an instruction); the
        records and the perplexity judge keep the original prompt."""
        return text

    def sample(self, model: nn.Module, tok: Any, texts: Sequence[str], **kw: Any
               ) -> tuple[list[str], list[int]]:
        """Continue ``texts`` inside :meth:`control` -> (continuations, token counts).

        Autoregressive batched top-p (:func:`lmsteer.generate.sample_batch`, keywords as there);
        a non-autoregressive method (MuCoLa) overrides this."""
        from .generate import sample_batch

        return sample_batch(model, tok, texts, **kw)

    def prompt_pass_shared(self, strength: float | torch.Tensor) -> bool:
        """Whether generation may run each distinct prompt through the LM once and copy its
        cache to all of its samples (:func:`lmsteer.generate.sample_ids`): the method's forward
        is row-independent and one strength holds for the whole batch."""
        return self.row_independent and torch.as_tensor(strength).numel() == 1

    def control_values(self, strength: float) -> list[float] | None:
        """The method's own control values at ``strength`` (recorded with each sample)."""
        return None

    def num_trainable_parameters(self) -> int:
        return 0

    artifact_hash: str | None = None  # of the folder from_pretrained loaded (artifact_sha256)

    def describe(self) -> dict[str, Any]:
        out = {"name": self.name, "params": self.params,
               "trainable_parameters": self.num_trainable_parameters()}
        if self.artifact_hash:
            out["artifact_sha256"] = self.artifact_hash
        return out


class Original(Method):
    """The unsteered LM."""

    row_independent = True


METHODS: Registry[type[Method]] = Registry("method")
METHODS.add("original", Original)
ARTIFACT_CONFIG = "method.json"  # the config file of every method's artifact folder
PLUGIN_GROUP = "lmsteer.methods"  # entry-point group of packages that register methods
_plugins_loaded = False


def artifact_sha256(folder: str | Path) -> str | None:
    """sha256 over a trained folder's tensor files (``*.safetensors``, by name and content):
    which trained weights a record or analysis ran with. None: the folder holds none."""
    import hashlib

    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def register_method(name: str):
    """Class decorator: register a :class:`Method` subclass under ``name`` (sets its ``name``)."""
    def deco(cls: type[Method]) -> type[Method]:
        cls.name = name
        METHODS.add(name, cls)
        return cls
    return deco


def load_plugins() -> None:
    """Import every package named in the ``lmsteer.methods`` entry-point group (pyproject.toml:
    ``baselines``), whose modules register their methods; once per process. The core never
    imports a plugin by name."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=PLUGIN_GROUP):
        ep.load()


def method_class(name: str) -> type[Method]:
    """The registered class of method ``name`` (plugins loaded); unknown names list the valid."""
    load_plugins()
    return METHODS.get(name)


@register_method("lm_steer")
class LMSteerMethod(Method):
    """LM-Steer: steer 0 is trained (+1 wanted / -1 unwanted), steer 1 is the always-on dummy."""

    name = "lm_steer"
    artifact_dir = "steer"
    contract_params = {"rank": 4, "steps": 40, "lr": 0.05, "batch_size": 8, "max_length": 16,
                       "epsilon": 0.05, "dummy_value": 0}
    Params = LMSteerParams
    row_independent = True  # a folded or per-batch steer; per-sample values are never shared
    per_sample_strength = True  # (B, 2) steer values

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.steer = None

    def fit(self, model, tok, data, out_dir, seed):
        from .train import TrainConfig, train_steer

        cfg = TrainConfig.from_params(self.params, seed=seed)
        self.steer, log_ = train_steer(model, tok, data, cfg, out_dir)
        return log_

    def load(self, model, tok, artifact_dir):
        from .steer import Steer

        if artifact_dir is None:
            raise LMSteerError("lm_steer needs a trained steer folder (--artifact)")
        self.steer = Steer.load(artifact_dir, model)

    def values_for(self, strength: float | torch.Tensor) -> torch.Tensor:
        """Strength -> steer values: (2,) for a scalar, (B, 2) for per-sample strengths."""
        dummy = self.opt("dummy_value")
        s = torch.as_tensor(strength, dtype=torch.float32)
        if s.ndim == 0:
            return torch.stack([s, torch.tensor(dummy)])
        return torch.stack([s, torch.full_like(s, dummy)], dim=1)

    def control_values(self, strength: float) -> list[float]:
        return [float(v) for v in self.values_for(strength)]

    @contextlib.contextmanager
    def control(self, model, strength):
        values = self.values_for(strength)
        if values.ndim == 1 and self.opt("fold"):
            self.steer.fold(values)  # fixed value: zero-overhead decoding
            try:
                yield
            finally:
                self.steer.unfold()
        else:
            self.steer.set_values(values)
            try:
                yield
            finally:
                self.steer.set_values(None)

    def num_trainable_parameters(self) -> int:
        return self.steer.num_parameters() if self.steer is not None else 0


def get_method(name: str, **params: Any) -> Method:
    """Instantiate a registered method (plugins loaded on first use)."""
    return method_class(name)(**params)
