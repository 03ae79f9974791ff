"""LoRA: low-rank adapters on the attention projections, fine-tuned on the wanted text.

``W x + (alpha / r) * B A x`` with ``A`` (r, in) small random and ``B`` (out, r) zero at the
start, on every attention projection whose name matches ``targets`` (Llama/Gemma ``q_proj``,
``v_proj``; GPT-2 ``c_attn``; GPT-NeoX ``query_key_value``; GPT-J ``q_proj``, ``v_proj``). One
adapter per direction (detox: towards non-toxic; sentiment: positive and negative). At
generation the adapter of the strength's sign is scaled by ``|strength|`` (1 = as trained).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

from lmsteer.errors import LMSteerError
from lmsteer.methods import Method, register_method

from .finetune import finetune, load_tensors, save_tensors

TARGETS = ("q_proj", "v_proj", "c_attn", "query_key_value")
@dataclass
class LoRAParams:
    rank: int = 8
    alpha: float = 16.0
    steps: int = 200
    lr: float = 1e-3
    batch_size: int = 16
    max_length: int = 48
    directions: list = field(default_factory=lambda: ["positive"])  # one adapter per direction


class LoRALayer(nn.Module):
    """A frozen linear map (``nn.Linear`` or GPT-2's ``Conv1D``) plus a scaled low-rank delta."""

    def __init__(self, base: nn.Module, rank: int, alpha: float, seed: int) -> None:
        super().__init__()
        self.base = base
        w = base.weight
        d_in, d_out = (w.shape[1], w.shape[0]) if isinstance(base, nn.Linear) else w.shape
        gen = torch.Generator().manual_seed(seed)  # seeded on the CPU, then beside the base
        self.lora_a = nn.Parameter((torch.randn(rank, d_in, generator=gen) / math.sqrt(d_in)
                                    ).to(w.device))
        self.lora_b = nn.Parameter(torch.zeros(d_out, rank, device=w.device))
        self.scaling = alpha / rank
        self.scale = 1.0  # the control strength

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x (..., d_in) -> (..., d_out)
        delta = (x @ self.lora_a.T.to(x.dtype)) @ self.lora_b.T.to(x.dtype)
        return self.base(x) + delta * (self.scaling * self.scale)


def attach(model: nn.Module, rank: int, alpha: float, seed: int,
           targets: tuple[str, ...] = TARGETS) -> dict[str, LoRALayer]:
    """Wrap every matching projection in a :class:`LoRALayer`; returns them by module name."""
    found = [(n, m) for n, m in model.named_modules()
             if n.split(".")[-1] in targets and hasattr(m, "weight") and m.weight.ndim == 2]
    if not found:
        raise LMSteerError(f"{type(model).__name__}: no attention projection named {targets}")
    layers = {}
    for i, (name, module) in enumerate(found):
        parent_name, _, child = name.rpartition(".")
        layer = LoRALayer(module, rank, alpha, seed * 10_007 + i)
        setattr(model.get_submodule(parent_name), child, layer)
        layers[name] = layer
    return layers


def detach(model: nn.Module, layers: dict[str, LoRALayer]) -> None:
    for name, layer in layers.items():
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, layer.base)


@register_method("lora")
class LoRA(Method):
    """Params: ``rank`` (8), ``alpha`` (16), ``steps``, ``lr``, ``batch_size``, ``max_length``,
    ``directions`` (["positive"]; add "negative" for sentiment)."""
    contract_params = {"rank": 4, "steps": 25, "lr": 1e-2, "batch_size": 8, "max_length": 16}

    row_independent = True  # low-rank adapters on the weights, nothing per row
    Params = LoRAParams

    def artifact_state(self):
        return {"directions": sorted(self.p.directions)}

    def fit(self, model, tok, data, out_dir, seed):
        out, info = Path(out_dir), {}
        for d in self.p.directions:
            texts = [t for t, v in data if (v > 0 if d == "positive" else v < 0)]
            layers = attach(model, self.opt("rank"), self.opt("alpha"), seed)
            try:
                params = {f"{n}.{p}": getattr(lay, p) for n, lay in layers.items()
                          for p in ("lora_a", "lora_b")}
                losses = finetune(model, tok, texts, params, steps=self.opt("steps"),
                                  lr=self.opt("lr"), batch_size=self.opt("batch_size"),
                                  max_length=self.opt("max_length"), seed=seed, desc=f"lora {d}")
                save_tensors(out / f"{d}.safetensors", params)
            finally:
                detach(model, layers)
            info[d] = {"texts": len(texts), "losses": losses}
        return info

    def load(self, model, tok, artifact_dir):
        if artifact_dir is None:
            raise LMSteerError("lora needs the folder its fit wrote")
        self.adapters = {}
        for d in ("positive", "negative"):
            path = Path(artifact_dir) / f"{d}.safetensors"
            if path.is_file():
                layers = attach(model, self.opt("rank"), self.opt("alpha"), 0)
                try:
                    self.adapters[d] = load_tensors(path, model)
                finally:
                    detach(model, layers)
        if not self.adapters:
            raise LMSteerError(f"no LoRA adapters in {artifact_dir}")

    @contextlib.contextmanager
    def control(self, model: nn.Module, strength) -> Iterator[None]:
        s = float(torch.as_tensor(strength, dtype=torch.float32).flatten()[0]) \
            if torch.as_tensor(strength).numel() == 1 else None
        if s is None:
            raise LMSteerError("lora takes one strength per batch")
        if s == 0:
            yield
            return
        d = "positive" if s > 0 else "negative"
        if d not in self.adapters:
            raise LMSteerError(f"lora was not trained towards {d} (params.directions)")
        layers = attach(model, self.opt("rank"), self.opt("alpha"), 0)
        own = dict(model.named_parameters())
        with torch.no_grad():
            for n, t in self.adapters[d].items():
                own[n].copy_(t)
        for layer in layers.values():
            layer.scale = abs(s)
        try:
            yield
        finally:
            detach(model, layers)

    def num_trainable_parameters(self) -> int:
        return sum(t.numel() for t in next(iter(self.adapters.values())).values()) \
            if getattr(self, "adapters", None) else 0
