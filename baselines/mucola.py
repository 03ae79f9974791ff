"""MuCoLa: non-autoregressive sampling by Langevin dynamics in embedding space (Kumar et al., 2022).

The continuation is a sequence of ``L`` vectors ``ẽ`` in the LM's embedding space, refined all at
once by projected Langevin dynamics on the energy

    E(ẽ) = E_LM(ẽ) + λ · s · (log p_probe(unwanted | ẽ) − log τ)

- ``E_LM`` is the LM's negative log-likelihood of the continuation given the prompt, with the
  target of each position read as ``h_{t-1} · ẽ_t`` (MuCoLa's formulation for tied embeddings,
  so the gradient reaches every position both as input and as target);
- the constraint is the attribute probe (:mod:`baselines.probe`) on the mean hidden state of the
  continuation, the same LM pass, held below ``τ`` by a Lagrange multiplier ``λ`` raised by dual
  ascent while it is violated; ``s`` is the strength (per sample; negative targets the other
  class; 0 leaves only the LM energy);
- each step ``ẽ ← Proj(ẽ − η ∇E / max_t ‖∇E_t‖ · r + σ_k r z)`` moves the most-pulled position
  by ``η r`` (``r``: mean embedding norm), with noise annealed to zero, then projects every
  position onto its nearest token embedding.

Sized for CPUs: initialised from the LM's own top-p sample (not noise), ``steps`` = 20 instead of
hundreds, the prompt's key/value cache computed once. Tokens after an end-of-sequence token
stay as they are.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from lmsteer.generate import decode_new, fit_context, left_positions, sample_ids
from lmsteer.headloss import head_parts, token_nll
from lmsteer.methods import register_method
from lmsteer.models import model_device

from .kvcache import build_cache, cache_tensors
from .finetune import only_trainable
from .pplm import ProbeMethod, ProbeParams, scaled_input_embeddings
from .probe import UNWANTED, WANTED

@dataclass
class MuCoLaParams(ProbeParams):
    steps: int = 20  # Langevin steps
    step_size: float = 0.5  # eta
    noise: float = 0.1  # sigma at the first step
    threshold: float = 0.1  # tau
    lambda_lr: float = 1.0


def nearest_tokens(e: torch.Tensor, w: torch.Tensor, w_sq: torch.Tensor) -> torch.Tensor:
    """Nearest rows of ``w`` (V, d) in L2 to ``e`` (..., d) -> ids (...); w_sq = ‖w_v‖² (V,)."""
    scores = 2 * e.reshape(-1, e.shape[-1]) @ w.T - w_sq  # (N, V): -‖e - w_v‖² + ‖e‖²
    return scores.argmax(-1).reshape(e.shape[:-1])


def lm_energy(model: nn.Module, h_prev: torch.Tensor, e: torch.Tensor, y: torch.Tensor,
              live: torch.Tensor, tied: bool) -> torch.Tensor:
    """E_LM per sample (B,): the NLL of tokens ``y`` (B, L) from the states ``h_prev``
    (B, L, d) that predict them, over the live positions (B, L). With tied embeddings the
    target logit is read as ``h_{t-1} · ẽ_t``: the same value, with a gradient into ``ẽ_t``
    (B, L, d). The head runs chunked (:func:`lmsteer.headloss.token_nll`): no (B, L, V)
    logits with gradients (14 GB on Gemma's 262k vocabulary at batch 100)."""
    b, n, d = h_prev.shape
    weight, bias, cap = head_parts(model)
    nll = token_nll(h_prev.reshape(b * n, d), weight, y.reshape(-1), bias, cap).view(b, n)
    if tied:
        nll = nll - (h_prev * (e - e.detach())).sum(-1)
    return (nll * live).sum(1)


@register_method("mucola")
class MuCoLa(ProbeMethod):
    """Params: ``steps``, ``step_size`` (η), ``noise`` (σ at the first step), ``threshold``
    (τ), ``lambda_lr``, ``probe_steps``, ``max_length``; strength weighs the constraint."""
    contract_params = {"steps": 10, "step_size": 2.0, "threshold": 1e-4, "probe_steps": 100}
    steers_forward = False  # it optimises whole continuations in its own sampler

    Params = MuCoLaParams

    @contextlib.contextmanager
    def control(self, model: nn.Module, strength) -> Iterator[None]:
        self._strength = torch.as_tensor(strength, dtype=torch.float32,
                                         device=model_device(model))
        self.probe.to(self._strength.device)
        try:
            yield
        finally:
            del self._strength

    def sample(self, model: nn.Module, tok: Any, texts: Sequence[str], **kw: Any
               ) -> tuple[list[str], list[int]]:
        new = sample_ids(model, tok, texts, **kw)  # (B, L) the LM's own sample: the start
        enc = tok(list(texts), return_tensors="pt", padding=True).to(new.device)
        # the same left cut as the sampler's where prompt + continuation pass the positions
        # (the sampler has already logged it)
        ids, mask = fit_context(model, enc["input_ids"], enc["attention_mask"], new.shape[1],
                                warn=False)
        s = self._strength.expand(new.shape[0]) if self._strength.ndim == 0 else self._strength
        with torch.no_grad(), only_trainable(model):
            refined = self.refine(model, ids, mask, new, tok.eos_token_id, s,
                                  seed=kw.get("seed", 0))
        return decode_new(tok, refined)

    def refine(self, model: nn.Module, ids: torch.Tensor, mask: torch.Tensor,
               new: torch.Tensor, eos: int, s: torch.Tensor, seed: int = 0) -> torch.Tensor:
        """Langevin refinement of the continuations ``new`` (B, L) of prompts ``ids`` (B, T)."""
        b, n = new.shape
        live = ((new == eos).int().cumsum(1) == 0).float()  # (B, L) positions before EOS
        w, emb_scale = scaled_input_embeddings(model)
        w = w.detach().float()  # (V, d)
        w_sq = w.pow(2).sum(-1)  # (V,)
        r = float(w.norm(dim=-1).mean())
        tied = model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings(
        ).weight.data_ptr()
        pos = left_positions(mask)
        pre = model.base_model(input_ids=ids, attention_mask=mask, position_ids=pos,
                               use_cache=True)
        kv = cache_tensors(pre.cache)
        first_h = pre.last_hidden_state[:, -1:].float()  # (B, 1, d) predicts position 0
        dev = ids.device
        full = torch.cat([mask, torch.ones(b, n, dtype=mask.dtype, device=dev)], 1)
        cpos = pos[:, -1:] + 1 + torch.arange(n, device=dev)  # (B, L)
        target = torch.where(s >= 0, UNWANTED, WANTED)  # the class to hold below τ
        lam = torch.ones(b, device=dev)
        gen = torch.Generator(device=dev).manual_seed(seed)
        y = new.clone()
        steps = self.opt("steps")
        for k in range(steps):
            e = w[y].clone().requires_grad_()  # (B, L, d) projected start of this step
            with torch.enable_grad():
                o = model.base_model(inputs_embeds=(e * emb_scale).to(w.dtype),
                                     attention_mask=full, position_ids=cpos,
                                     cache=build_cache(model, kv), use_cache=True)
                h = o.last_hidden_state.float()  # (B, L, d), after the final norm
                h_prev = torch.cat([first_h, h[:, :-1]], 1)  # (B, L, d) predicts position t
                e_lm = lm_energy(model, h_prev, e, y, live, tied)  # (B,)
                pooled = (h * live[..., None]).sum(1) / live.sum(1, keepdim=True).clamp(min=1)
                logp = torch.log_softmax(self.probe(pooled), -1).gather(
                    1, target[:, None]).squeeze(1)  # (B,)
                viol = logp - math.log(self.opt("threshold"))
                energy = e_lm + lam * s.abs() * viol
                (g,) = torch.autograd.grad(energy.sum(), e)  # (B, L, d)
            g = g * live[..., None]
            gmax = g.norm(dim=-1).amax(1).clamp(min=1e-12)[:, None, None]  # (B, 1, 1)
            sigma = self.opt("noise") * (1 - k / steps)
            z = torch.randn(e.shape, generator=gen, device=dev) / math.sqrt(e.shape[-1])
            moved = e.detach() - self.opt("step_size") * r * g / gmax + sigma * r * z
            y = torch.where(live.bool(), nearest_tokens(moved, w, w_sq), y)
            lam = (lam + self.opt("lambda_lr") * viol.detach()).clamp(min=0)
        return y
