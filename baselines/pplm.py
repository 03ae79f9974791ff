"""PPLM: plug-and-play control by gradient steps on the key/value history (Dathathri et al., 2020).

Training: only the attribute classifier, a linear probe on the mean of the frozen LM's last
hidden states (:mod:`baselines.probe`), as PPLM's discriminator.

Decoding, at every step (including the first generated token, whose input is the prompt's last
token), as in the paper:

1. the unperturbed LM (its own cache) gives ``p_unpert`` of the next token;
2. ``num_iterations`` times: build the history ``H + ΔH``, run the current token through it, then
   one "horizon" step on the expected next embedding ``Σ_v p(v) e_v``; the loss is the probe's
   cross-entropy for the wanted class on the running mean of hidden states plus
   ``kl_scale · KL(p || p_unpert)``; ``ΔH -= stepsize · s · ∇ / ‖∇‖^gamma`` per layer and sample;
3. the current token through ``H + ΔH`` gives ``p_pert``; the perturbed history is kept for the
   next step; the token is drawn from ``p_pert^gm · p_unpert^(1-gm)`` (renormalised by the
   sampler, top-p as every method).

The strength ``s`` scales the step size (per sample); ``s = 0`` leaves the LM's distribution
exactly as it is, a negative ``s`` steps towards the unwanted class. Each step costs
``2 + 3 · num_iterations`` forwards and ``num_iterations`` backwards: PPLM is slow, as in the paper.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from lmsteer.errors import LMSteerError
from lmsteer.generate import last_position, left_positions
from lmsteer.methods import Method, register_method
from lmsteer.models import model_device

from .finetune import only_trainable
from .logits import patched_forward
from .kvcache import KV, build_cache, cache_tensors, expand_mask
from .probe import UNWANTED, WANTED, load_probe, save_probe, train_probe

@dataclass
class ProbeParams:
    """The probe (PPLM's discriminator; MuCoLa's constraint) on cached mean hidden states."""

    probe_steps: int = 300
    max_length: int = 48
    cache_dir: str | None = None  # where the frozen LM's hidden states are cached


@dataclass
class PPLMParams(ProbeParams):
    stepsize: float = 0.02
    num_iterations: int = 3
    kl_scale: float = 0.01
    gm_scale: float = 0.95
    gamma: float = 1.5
    horizon: int = 1
SMALL = 1e-15


def scaled_input_embeddings(model: nn.Module) -> tuple[torch.Tensor, float]:
    """The input embedding matrix (V, d) and the factor the model's embedding layer applies."""
    emb = model.get_input_embeddings()
    return emb.weight, float(getattr(emb, "embed_scale", 1.0))


class ProbeMethod(Method):
    """Trains the attribute probe; PPLM and MuCoLa share it."""
    per_sample_strength = True  # PPLM's step size / MuCoLa's constraint weight per row

    Params = ProbeParams

    def artifact_state(self):
        return {"probe": getattr(self, "probe_info", {})}

    def fit(self, model, tok, data, out_dir, seed):
        probe, info = train_probe(model, tok, data, seed=seed, max_length=self.opt("max_length"),
                                  steps=self.opt("probe_steps"),
                                  cache_dir=self.p.cache_dir)
        save_probe(Path(out_dir) / "probe.safetensors", probe)
        self.probe_info = info
        self.probe = probe
        return {**info, "losses": [info["final_loss"]]}

    def load(self, model, tok, artifact_dir):
        if artifact_dir is None:
            raise LMSteerError(f"{self.name} needs the folder its fit wrote (the probe)")
        self.probe = load_probe(Path(artifact_dir) / "probe.safetensors", model)

    def num_trainable_parameters(self) -> int:
        probe = getattr(self, "probe", None)
        return sum(p.numel() for p in probe.parameters()) if probe is not None else 0


@register_method("pplm")
class PPLM(ProbeMethod):
    """Params: ``stepsize``, ``num_iterations``, ``kl_scale``, ``gm_scale``, ``gamma``,
    ``horizon`` (0 or 1), ``probe_steps``, ``max_length``; strength scales the step size."""
    contract_params = {"stepsize": 0.2, "num_iterations": 3, "probe_steps": 100}

    Params = PPLMParams

    def _perturb(self, run, model, kv: KV, x, mask, pos, p_unpert, st, s) -> list:
        """``num_iterations`` gradient steps on the history; returns ΔH per layer."""
        target = torch.where(s >= 0, WANTED, UNWANTED)  # (B,)
        scale = (self.opt("stepsize") * s.abs())[:, None, None, None]  # (B, 1, 1, 1)
        w_in, emb_scale = scaled_input_embeddings(model)
        q = torch.where(p_unpert <= SMALL, p_unpert + SMALL, p_unpert)
        deltas = [(torch.zeros_like(k), torch.zeros_like(v)) for k, v in kv]
        for _ in range(self.opt("num_iterations")):
            deltas = [(dk.requires_grad_(), dv.requires_grad_()) for dk, dv in deltas]
            o = run(input_ids=x, attention_mask=mask, position_ids=pos,
                    cache=build_cache(model, kv, deltas), use_cache=True, output_hidden_states=True)
            probs = torch.softmax(o.logits[:, -1].float(), -1)  # (B, V)
            hid = st["acc"] + o.hidden_states[-1][:, -1].float()  # (B, d)
            n = st["count"] + 1
            if self.opt("horizon"):
                e = (probs.to(w_in.dtype) @ w_in) * emb_scale  # expected next embedding (B, d)
                o2 = run(inputs_embeds=e[:, None], attention_mask=expand_mask(mask),
                         position_ids=pos + 1, cache=o.cache, use_cache=True,
                         output_hidden_states=True)
                hid, n = hid + o2.hidden_states[-1][:, -1].float(), n + 1
            attr = nn.functional.cross_entropy(self.probe(hid / n), target, reduction="none")
            p = torch.where(probs <= SMALL, probs + SMALL, probs)
            kl = (p * (p / q).log()).sum(-1)  # (B,)
            loss = (attr + self.opt("kl_scale") * kl).sum()
            grads = torch.autograd.grad(loss, [t for pair in deltas for t in pair])
            new = []
            for i, (dk, dv) in enumerate(deltas):
                gk, gv = grads[2 * i], grads[2 * i + 1]
                norm = (gk.pow(2).sum((1, 2, 3)) + gv.pow(2).sum((1, 2, 3))).sqrt() + SMALL  # (B,)
                step = scale / norm.pow(self.opt("gamma"))[:, None, None, None]
                new.append(((dk - step * gk).detach(), (dv - step * gv).detach()))
            deltas = new
        return deltas

    def _step(self, run, model, cache, x, mask, pos, st, s):
        """One decoding step on token(s) ``x`` (B, 1) whose history is ``cache``."""
        u = run(input_ids=x, attention_mask=mask, position_ids=pos, cache=st["unpert"],
                use_cache=True, output_hidden_states=True)
        lp_unpert = torch.log_softmax(u.logits[:, -1].float(), -1)  # (B, V)
        kv = cache_tensors(cache)
        deltas = None
        if bool((s != 0).any()):
            with torch.enable_grad(), only_trainable(model):
                deltas = self._perturb(run, model, kv, x, mask, pos, lp_unpert.exp(), st, s)
        out = run(input_ids=x, attention_mask=mask, position_ids=pos,
                  cache=build_cache(model, kv, deltas), use_cache=True)
        lp_pert = torch.log_softmax(out.logits[:, -1].float(), -1)
        g = self.opt("gm_scale")
        fused = torch.where((s != 0)[:, None], g * lp_pert + (1 - g) * lp_unpert, lp_unpert)
        st["acc"] = st["acc"] + u.hidden_states[-1][:, -1].float()
        st["count"] = st["count"] + 1
        out.logits = fused[:, None]  # (B, 1, V) log-probabilities: the sampler renormalises
        return out

    @contextlib.contextmanager
    def control(self, model: nn.Module, strength) -> Iterator[None]:
        s0 = torch.as_tensor(strength, dtype=torch.float32,
                             device=model_device(model))
        self.probe.to(s0.device)
        st: dict[str, Any] = {}

        def make(run: Callable) -> Callable:
            def forward(*args: Any, **kw: Any):
                ids = kw["input_ids"]
                mask = kw.get("attention_mask")
                mask = torch.ones_like(ids) if mask is None else mask
                pos = kw.get("position_ids")
                pos = left_positions(mask) if pos is None else pos
                s = s0.expand(ids.shape[0]) if s0.ndim == 0 else s0
                if kw.get("cache") is not None:
                    return self._step(run, model, kw["cache"], ids, mask, pos, st, s)
                if ids.shape[1] < 2:  # a one-token prompt has no history to perturb yet
                    raise LMSteerError("pplm needs prompts of at least two tokens")
                pre = run(input_ids=ids[:, :-1], attention_mask=mask[:, :-1],  # logits unused
                          position_ids=pos[:, :-1], use_cache=True, output_hidden_states=True,
                          logits_to_keep=last_position(ids[:, :-1]))
                keep = mask[:, :-1, None].float()  # (B, T-1, 1): left padding does not count
                st["acc"] = (pre.hidden_states[-1].float() * keep).sum(1)  # (B, d)
                st["count"] = keep.sum(1)  # (B, 1)
                st["unpert"] = build_cache(model, [(k.clone(), v.clone())
                                                   for k, v in cache_tensors(pre.cache)])
                return self._step(run, model, pre.cache, ids[:, -1:], mask, pos[:, -1:], st, s)
            return forward

        with patched_forward(model, make):
            yield
