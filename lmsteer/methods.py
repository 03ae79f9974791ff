"""One interface for every controlled-generation method, and the method registry.

A method answers two questions: how to train (or not) from attribute data, and how to make the
model produce controlled next-token logits for a batch at a given control strength (a scalar
for the batch, or one value per sample). Generation, scoring and tables never special-case a
method. ``baselines/`` registers the paper's comparison methods into the same registry.
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from .errors import LMSteerError
from .registry import Registry

log = logging.getLogger(__name__)


class Method:
    """Base class of every method; the unsteered model (``original``) is :class:`Original`."""

    name = "original"
    artifact_dir = "trained"  # the folder under runs/<task>/<model>/<method>/ that fit() writes
    # model(...) inside control() treats every row on its own (no per-row state, no auxiliary
    # model with a cache of its own), so a prompt's pass may be shared by its samples; opt-in
    row_independent = False

    @classmethod
    def needs_fit(cls) -> bool:
        """Whether the method learns from the attribute data: it overrides :meth:`fit`, and its
        load() reads what fit() wrote (the DAG gives it a training job). Never configured."""
        return cls.fit is not Method.fit

    def __init__(self, **params: Any) -> None:
        self.params = params

    defaults: dict[str, Any] = {}  # parameter defaults of methods that read them with opt()
    # small settings for the method contract test on tiny random LMs (tests/unit/
    # test_method_contract.py); and whether its control acts on the LM's forward pass (a
    # teacher-forced check of direction), or only on the conditioning text or the sampler
    contract_params: dict[str, Any] = {}
    steers_forward = True

    def opt(self, key: str) -> Any:
        """Parameter ``key``: the given value, else the class's default, cast to its type."""
        return type(self.defaults[key])(self.params.get(key, self.defaults[key]))

    def fit(self, model: nn.Module, tok: Any, data: Sequence[tuple[str, float]],
            out_dir: Path, seed: int) -> dict[str, Any]:
        """Train from (text, attribute value) pairs and save artifacts to ``out_dir``."""
        return {}

    def load(self, model: nn.Module, tok: Any, artifact_dir: Path | None) -> None:
        """Prepare ``model`` for controlled generation from saved artifacts."""

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

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "params": self.params,
                "trainable_parameters": self.num_trainable_parameters()}


class Original(Method):
    """The unsteered LM."""

    row_independent = True


METHODS: Registry[type[Method]] = Registry("method")
METHODS.add("original", Original)
PLUGIN_GROUP = "lmsteer.methods"  # entry-point group of packages that register methods
_plugins_loaded = False


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
    defaults = {"dummy_value": 1.0, "fold": True}  # the always-on second steer's value
    row_independent = True  # a folded or per-batch steer; per-sample values are never shared

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
