"""DAPT and DExperts: methods built on LMs fine-tuned on attribute text.

- **DAPT** (domain-adaptive pre-training): continue training the top ``top_blocks`` blocks of
  the LM on the wanted text (non-toxic; or positive / negative for sentiment, one model per
  direction); a strength ``s`` generates with the weights moved ``|s|`` times the way from the
  LM's to the adapted ones (1: the adapted weights; the knob a strength sweep turns).
- **DExperts**: an expert fine-tuned on the wanted and an anti-expert on the unwanted text, from
  the same base; at decoding ``logits = base + alpha * (expert - anti-expert)`` with ``alpha`` the
  strength (paper: 2.0 for detox, 3.2 for sentiment; a negative alpha steers the other way),
  over the base LM's top-``filter_p`` nucleus only (0.9, as DExperts' generation code: tokens
  outside it get -inf before the experts are added, so the experts reweight the base LM's
  candidates and cannot bring in tokens it finds implausible). The three models keep their own
  KV caches, so a step costs three forwards.
"""
from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from lmsteer.errors import LMSteerError
from lmsteer.methods import Method, register_method
from lmsteer.models import model_device
from lmsteer.sampling import nucleus_mask

from .logits import patched_forward
from .finetune import (finetune, load_tensors, save_tensors, swapped, top_block_parameters,
                       tuned_copy)

@dataclass
class FineTuneParams:
    """Fine-tuning the top ``top_blocks`` transformer blocks (and the final norm)."""

    top_blocks: int = 2
    steps: int = 200
    lr: float = 1e-4
    batch_size: int = 16
    max_length: int = 48


@dataclass
class DAPTParams(FineTuneParams):
    directions: list = field(default_factory=lambda: ["positive"])  # one model per direction


@dataclass
class DExpertsParams(FineTuneParams):
    filter_p: float = 0.9  # the base LM's nucleus the experts reweight


def _texts(data, sign: int) -> list[str]:
    return [t for t, v in data if (v > 0 if sign > 0 else v < 0)]


class FineTunedMethod(Method):
    Params = FineTuneParams

    def _tune(self, model, tok, texts, out: Path, seed: int, tag: str) -> dict[str, Any]:
        """Fine-tune a copy of ``model`` on ``texts``; save the tuned blocks as ``tag``."""
        tuned = copy.deepcopy(model)
        params = top_block_parameters(tuned, self.opt("top_blocks"))
        losses = finetune(tuned, tok, texts, params, steps=self.opt("steps"), lr=self.opt("lr"),
                          batch_size=self.opt("batch_size"), max_length=self.opt("max_length"),
                          seed=seed, desc=f"{self.name} {tag}")
        save_tensors(out / f"{tag}.safetensors", params)
        self._n_params = sum(p.numel() for p in params.values())
        return {"texts": len(texts), "losses": losses}

    def num_trainable_parameters(self) -> int:
        """Tuned weights (set by fit or load; DAPT, DExperts, GeDi)."""
        return getattr(self, "_n_params", 0)


@register_method("dapt")
class DAPT(FineTunedMethod):
    """Params: ``directions`` (["positive"] for detox; add "negative" for sentiment), plus
    ``top_blocks``, ``steps``, ``lr``, ``batch_size``, ``max_length``."""
    Params = DAPTParams
    contract_params = {"top_blocks": 1, "steps": 25, "lr": 1e-2, "batch_size": 8,
                       "max_length": 16}

    row_independent = True  # the adapted weights swapped in, nothing per row

    def artifact_state(self):
        return {"directions": sorted(self.p.directions)}

    def fit(self, model, tok, data, out_dir, seed):
        out = Path(out_dir)
        info = {d: self._tune(model, tok, _texts(data, 1 if d == "positive" else -1), out, seed,
                              d) for d in self.p.directions}
        return info

    def load(self, model, tok, artifact_dir):
        if artifact_dir is None:
            raise LMSteerError("dapt needs the folder its fit wrote")
        self.tensors = {d: load_tensors(Path(artifact_dir) / f"{d}.safetensors", model)
                        for d in ("positive", "negative")
                        if (Path(artifact_dir) / f"{d}.safetensors").is_file()}
        self._n_params = sum(t.numel() for t in next(iter(self.tensors.values())).values())

    @contextlib.contextmanager
    def control(self, model, strength):
        s = torch.as_tensor(strength, dtype=torch.float32).flatten()
        if len(set(s.tolist())) > 1:
            raise LMSteerError("dapt generates with one adapted model per batch: give one "
                               "strength")
        sign = float(torch.sign(s[0]))
        if sign == 0:
            yield
            return
        direction = "positive" if sign > 0 else "negative"
        if direction not in self.tensors:
            raise LMSteerError(f"dapt was not trained towards {direction} (params.directions)")
        with swapped(model, self.tensors[direction], abs(float(s[0]))):
            yield


@register_method("dexperts")
class DExperts(FineTunedMethod):
    """Params as DAPT's (``top_blocks``, ``steps``, ...) plus ``filter_p`` (0.9; 1 turns the
    base-nucleus filter off); strength is alpha. Rows with alpha 0 are the plain LM."""
    per_sample_strength = True  # alpha per row
    Params = DExpertsParams
    contract_params = {"top_blocks": 1, "steps": 25, "lr": 1e-2, "batch_size": 8,
                       "max_length": 16}

    def fit(self, model, tok, data, out_dir, seed):
        out = Path(out_dir)
        info = {"expert": self._tune(model, tok, _texts(data, 1), out, seed, "expert"),
                "anti_expert": self._tune(model, tok, _texts(data, -1), out, seed + 1,
                                          "anti_expert")}
        return info

    def load(self, model, tok, artifact_dir):
        if artifact_dir is None:
            raise LMSteerError("dexperts needs the folder its fit wrote")
        self.experts = {}
        for tag in ("expert", "anti_expert"):
            tensors = load_tensors(Path(artifact_dir) / f"{tag}.safetensors", model)
            self.experts[tag] = tuned_copy(model, tensors)
        self._n_params = 2 * sum(t.numel() for t in tensors.values())

    @contextlib.contextmanager
    def control(self, model: nn.Module, strength) -> Iterator[None]:
        alpha = torch.as_tensor(strength, dtype=torch.float32,
                                device=model_device(model))
        caches: dict[str, Any] = {}
        fp = self.p.filter_p

        def make(original: Callable) -> Callable:
            def forward(*args: Any, **kw: Any):
                out = original(*args, **kw)
                first = kw.get("cache") is None
                diff = 0
                for sign, tag in ((1, "expert"), (-1, "anti_expert")):
                    kw2 = dict(kw) if first else {**kw, "cache": caches[tag]}
                    o = self.experts[tag](*args, **kw2)
                    caches[tag] = getattr(o, "cache", None)
                    diff = diff + sign * o.logits.float()
                a = alpha.expand(out.logits.shape[0]) if alpha.ndim == 0 else alpha  # (B,)
                base = out.logits.float()  # (B, T, V)
                if fp < 1.0:  # DExperts' filter: only the base LM's nucleus stays a candidate
                    keep = nucleus_mask(base.flatten(0, 1), fp).view(base.shape)
                    keep |= (a == 0)[:, None, None]  # alpha 0: the plain LM, unfiltered
                    base = base.masked_fill(~keep, float("-inf"))
                out.logits = (base + a[:, None, None] * diff).to(out.logits.dtype)
                return out
            return forward

        with patched_forward(model, make):
            yield
