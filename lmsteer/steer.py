"""LM-Steer: a low-rank linear transform of a frozen LM's output word embeddings.

Every output embedding is steered, ``e'_v = (I + eps W) e_v`` with
``W = sum_i s_i P1_i P2_i^T``, so ``logit'_v = (c + eps * sum_i s_i (c P1_i) P2_i^T) . e_v``
for the last hidden state ``c``. The steer wraps the model's output-embedding module
(found with ``get_output_embeddings()``), so it works for any Hugging Face causal LM,
tied or untied, and never touches the input embeddings.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .errors import LMSteerError, SteerLoadError
from .io import atomic_write_text, atomic_path

log = logging.getLogger(__name__)

CONFIG_NAME = "steer_config.json"
WEIGHTS_NAME = "steer.safetensors"


@dataclass
class SteerConfig:
    """Hyper-parameters of a steer plus the identity of the model it was made for."""

    num_steers: int = 2
    rank: int = 64
    epsilon: float = 1e-3
    init_scale: float = 1e-2
    hidden_size: int = 0
    base_model: str = ""
    base_sha256: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SteerConfig":
        """Config from a dict; wrong types or ranges raise ValueError naming the field."""
        if not isinstance(d, dict):
            raise ValueError("steer config must be a JSON object")
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        kinds = {"num_steers": int, "rank": int, "hidden_size": int, "epsilon": (int, float),
                 "init_scale": (int, float), "base_model": str, "base_sha256": str, "extra": dict}
        for k, v in known.items():
            if not isinstance(v, kinds[k]) or isinstance(v, bool):
                raise ValueError(f"steer config field {k!r} has the wrong type ({type(v).__name__})")
        for k in ("num_steers", "rank"):
            if known.get(k, 1) < 1:
                raise ValueError(f"steer config field {k!r} must be >= 1")
        if known.get("hidden_size", 0) < 0 or known.get("hidden_size", 0) > 1 << 20:
            raise ValueError("steer config field 'hidden_size' is out of range")
        return cls(**known)


def output_matrix_sha256(model: nn.Module) -> str:
    """sha256 of the output embedding matrix (as float32), identifying the base model."""
    w = model.get_output_embeddings().weight.detach().to(torch.float32).contiguous()
    return hashlib.sha256(memoryview(w.numpy()).cast("B")).hexdigest()


def apply_final_logit_transform(model: nn.Module, logits: torch.Tensor) -> torch.Tensor:
    """Apply what the model does to the head's output (Gemma-style soft-capping)."""
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


class SteeredHead(nn.Module):
    """Drop-in replacement for an output-embedding module that applies a steer."""

    def __init__(self, base: nn.Module, steer: "Steer") -> None:
        super().__init__()
        self.base = base
        # Plain attribute (not a submodule), so model.parameters() does not list the steer twice.
        object.__setattr__(self, "_steer", steer)

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return getattr(self.base, "bias", None)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:  # hidden: (B, T, d)
        values = self._steer.values
        if values is None or not bool(values.any()):
            return self.base(hidden)
        return self.base(self._steer.steer_hidden(hidden, values))


class Steer(nn.Module):
    """The learnable projectors ``P1, P2`` of shape (num_steers, d, rank) and their use."""

    def __init__(self, config: SteerConfig, seed: int | None = None) -> None:
        super().__init__()
        if config.hidden_size <= 0 or config.rank <= 0 or config.num_steers <= 0:
            raise LMSteerError(f"invalid steer config: {config}")
        self.config = config
        gen = torch.Generator().manual_seed(0 if seed is None else seed)
        shape = (config.num_steers, config.hidden_size, config.rank)
        self.projector1 = nn.Parameter(torch.randn(shape, generator=gen) * config.init_scale)
        self.projector2 = nn.Parameter(torch.randn(shape, generator=gen) * config.init_scale)
        self.values: torch.Tensor | None = None
        self._model: nn.Module | None = None
        self._orig_head: nn.Module | None = None
        self._folded = False

    # ------------------------------------------------------------------ values
    def set_values(self, values: Sequence[float] | torch.Tensor | None) -> None:
        """Set steer values: shape (num_steers,) for the batch or (batch, num_steers) per sample."""
        if values is None:
            self.values = None
            return
        v = torch.as_tensor(values, dtype=self.projector1.dtype)
        if v.ndim not in (1, 2) or v.shape[-1] != self.config.num_steers:
            raise LMSteerError(
                f"steer values must have shape ({self.config.num_steers},) or "
                f"(batch, {self.config.num_steers}); got {tuple(v.shape)}")
        if not torch.isfinite(v).all():
            raise LMSteerError("steer values must be finite")
        self.values = v.to(self.projector1.device)

    def steer_hidden(self, hidden: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """``c + eps * sum_i s_i (c P1_i) P2_i^T``; costs 2*d*r per steer and token."""
        return hidden + self.delta(hidden, values)

    def delta(self, hidden: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """The steer's shift ``eps * sum_i s_i (c P1_i) P2_i^T`` of hidden states (B, T, d);
        values (S,) for the batch or (B, S) per sample. Steers add by adding their deltas."""
        p1 = self.projector1.to(hidden.dtype)  # (S, d, r)
        p2 = self.projector2.to(hidden.dtype)  # (S, d, r)
        vals = values.to(hidden.dtype)
        low = torch.einsum("...d,sdr->...sr", hidden, p1)  # (B, T, S, r)
        if vals.ndim == 1:
            low = low * vals[:, None]  # (B, T, S, r)
        else:
            if vals.shape[0] != hidden.shape[0]:
                raise LMSteerError(
                    f"per-sample steer values for {vals.shape[0]} samples, batch has {hidden.shape[0]}")
            # vals (B, S) -> broadcast over every middle axis of hidden (T, ...)
            vshape = (vals.shape[0],) + (1,) * (hidden.ndim - 2) + (vals.shape[1], 1)
            low = low * vals.reshape(vshape)
        return self.config.epsilon * torch.einsum("...sr,sdr->...d", low, p2)  # (B, T, d)

    def regularization(self) -> torch.Tensor:
        return self.projector1.pow(2).sum() + self.projector2.pow(2).sum()

    # ------------------------------------------------------------ attach/detach
    @property
    def model(self) -> nn.Module | None:
        return self._model

    def attach(self, model: nn.Module) -> "Steer":
        """Wrap ``model``'s output embeddings; the model itself stays frozen."""
        if self._model is not None:
            raise LMSteerError("steer is already attached; detach() first")
        head = self.check_fits(model)
        for p in model.parameters():
            p.requires_grad_(False)
        self.to(device=head.weight.device)
        self._orig_head = head
        self._model = model
        model.set_output_embeddings(SteeredHead(head, self))
        return self

    def check_fits(self, model: nn.Module) -> nn.Module:
        """The model's output module, after checking hidden size and base model match."""
        head = model.get_output_embeddings()
        if head is None or not hasattr(head, "weight"):
            raise LMSteerError(f"{type(model).__name__} has no output embedding matrix")
        d = head.weight.shape[1]
        if d != self.config.hidden_size:
            raise SteerLoadError(
                f"steer is for hidden size {self.config.hidden_size}, model has {d}")
        if self.config.base_sha256:
            sha = output_matrix_sha256(model)
            if sha != self.config.base_sha256:
                raise SteerLoadError(
                    f"steer was trained on base model {self.config.base_model!r} "
                    f"(output matrix sha256 {self.config.base_sha256[:12]}…), "
                    f"this model's is {sha[:12]}…")
        return head

    def detach(self) -> nn.Module:
        """Restore the model's original output module exactly; returns the model."""
        if self._model is None:
            raise LMSteerError("steer is not attached")
        model = self._model
        model.set_output_embeddings(self._orig_head)
        self._model, self._orig_head, self._folded = None, None, False
        return model

    # ------------------------------------------------------------- fold/unfold
    @torch.no_grad()
    def fold(self, values: Sequence[float] | torch.Tensor) -> None:
        """Fold fixed values into an untied copy of the output matrix (zero decode overhead).

        ``E' = E + eps * E M`` with ``M = sum_i s_i P2_i P1_i^T`` (d x d, built once).
        The input embeddings (tied or not) are never modified.
        """
        if self._model is None:
            raise LMSteerError("attach the steer before folding")
        v = torch.as_tensor(values, dtype=torch.float32)
        if v.shape != (self.config.num_steers,):
            raise LMSteerError(f"fold needs one value per steer ({self.config.num_steers},), got {tuple(v.shape)}")
        base = self._orig_head
        w = base.weight  # (V, d)
        p1 = self.projector1.detach().float()
        p2 = self.projector2.detach().float()
        m = torch.einsum("s,sdr,ser->de", v.to(p1.device), p2, p1)  # (d, d)
        new_w = w.float() + self.config.epsilon * (w.float() @ m)  # (V, d)
        bias = getattr(base, "bias", None)
        folded = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None,
                           device=w.device, dtype=w.dtype)
        folded.weight = nn.Parameter(new_w.to(w.dtype), requires_grad=False)
        if bias is not None:
            folded.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)
        self._model.set_output_embeddings(folded)
        self._folded = True

    def unfold(self) -> None:
        """Undo :meth:`fold`, back to the (unmodified) original matrix behind the steer."""
        if not self._folded:
            raise LMSteerError("steer is not folded")
        self._model.set_output_embeddings(SteeredHead(self._orig_head, self))
        self._folded = False

    @property
    def base_head(self) -> nn.Module:
        """The model's original (unsteered) output module."""
        if self._orig_head is None:
            raise LMSteerError("steer is not attached")
        return self._orig_head

    @property
    def folded(self) -> bool:
        return self._folded

    # ---------------------------------------------------------------- save/load
    def save(self, folder: str | Path) -> Path:
        """Write ``steer_config.json`` and ``steer.safetensors`` (atomically) into ``folder``."""
        from .version import __version__
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {"projector1": self.projector1.detach().cpu().contiguous(),
                   "projector2": self.projector2.detach().cpu().contiguous()}
        with atomic_path(folder / WEIGHTS_NAME) as tmp:
            save_file(tensors, str(tmp), metadata={"format": "pt"})
        meta = {"config": self.config.to_dict(), "lmsteer_version": __version__}
        atomic_write_text(folder / CONFIG_NAME, json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path, model: nn.Module | None = None) -> "Steer":
        """Load a saved steer; with ``model``, check it fits and attach it."""
        folder = Path(folder)
        cfg_path, w_path = folder / CONFIG_NAME, folder / WEIGHTS_NAME
        for p in (cfg_path, w_path):
            if not p.is_file():
                raise SteerLoadError(f"steer folder {folder} is missing {p.name}")
        try:
            meta = json.loads(cfg_path.read_text(encoding="utf-8"))
            config = SteerConfig.from_dict(meta["config"])
        except (ValueError, KeyError, TypeError) as e:
            raise SteerLoadError(f"{cfg_path}: not a valid steer config ({e})") from e
        try:
            tensors = load_file(str(w_path))
        except Exception as e:  # safetensors raises several types on corrupt files
            raise SteerLoadError(f"{w_path}: cannot read steer weights ({e})") from e
        shape = (config.num_steers, config.hidden_size, config.rank)
        for name in ("projector1", "projector2"):
            if name not in tensors or tuple(tensors[name].shape) != shape:
                raise SteerLoadError(f"{w_path}: {name} missing or not of shape {shape}")
            if not torch.isfinite(tensors[name]).all():
                raise SteerLoadError(f"{w_path}: {name} holds NaN or infinite values "
                                     "(a diverged or corrupt steer)")
        steer = cls(config)
        with torch.no_grad():
            steer.projector1.copy_(tensors["projector1"])
            steer.projector2.copy_(tensors["projector2"])
        if model is not None:
            steer.attach(model)
        return steer

    def num_parameters(self) -> int:
        return self.projector1.numel() + self.projector2.numel()
