"""Exact nucleus (top-p) sampling without sorting the whole vocabulary.

Sorting a (batch, 262k) logits matrix and drawing from the full distribution dominate
sampling cost for large vocabularies on a CPU. The nucleus is usually small, so we take the
``k`` most probable tokens with a partial top-k; when their mass reaches ``p`` the nucleus lies
inside them and sampling there is exact. Rows whose top-k mass is below ``p`` fall back to a
full sort. Keep rule (as Hugging Face's ``TopPLogitsWarper``): a token stays if the probability
mass of the tokens ranked above it is below ``p``; the most probable token always stays.
"""
from __future__ import annotations

import torch


def _nucleus_in_sorted(probs_sorted: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep-mask over probabilities sorted in descending order: mass before token < top_p."""
    before = probs_sorted.cumsum(dim=-1) - probs_sorted  # (B, K) exclusive cumulative mass
    keep = before < top_p
    keep[..., 0] = True
    return keep


def sample_top_p(logits: torch.Tensor, top_p: float, temperature: float = 1.0, k: int = 1024,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """One token id per row of ``logits`` (B, V), drawn from the top-p nucleus."""
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    probs = torch.softmax(logits, dim=-1)  # (B, V)
    if top_p >= 1.0:
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)
    k = min(k, probs.shape[-1])
    top_vals, top_idx = torch.topk(probs, k, dim=-1)  # (B, k), descending
    out = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
    inside = top_vals.sum(dim=-1) >= top_p  # rows whose nucleus fits in the top-k
    if inside.any():
        vals = top_vals[inside]
        keep = _nucleus_in_sorted(vals, top_p)  # mass >= top_p inside, so the nucleus ends here
        w = torch.where(keep, vals, torch.zeros_like(vals))
        choice = torch.multinomial(w, 1, generator=generator).squeeze(1)  # (n,)
        out[inside] = top_idx[inside].gather(1, choice[:, None]).squeeze(1)
    rest = (~inside).nonzero().squeeze(1)
    if rest.numel():  # exact fallback: full sort for the rows with a large nucleus
        vals, idx = torch.sort(probs[rest], dim=-1, descending=True)
        keep = _nucleus_in_sorted(vals, top_p)
        w = torch.where(keep, vals, torch.zeros_like(vals))
        choice = torch.multinomial(w, 1, generator=generator).squeeze(1)
        out[rest] = idx.gather(1, choice[:, None]).squeeze(1)
    return out


def nucleus_distribution(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """The renormalised top-p distribution (B, V) by a full sort: the reference for tests."""
    probs = torch.softmax(logits.float(), dim=-1)
    vals, idx = torch.sort(probs, dim=-1, descending=True)
    keep = _nucleus_in_sorted(vals, top_p)
    w = torch.where(keep, vals, torch.zeros_like(vals))
    out = torch.zeros_like(probs).scatter(1, idx, w)
    return out / out.sum(dim=-1, keepdim=True)
