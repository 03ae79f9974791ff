"""Exact nucleus (top-p) sampling without sorting the whole vocabulary.

Sorting a (batch, 262k) logits matrix and drawing from the full distribution dominate
sampling cost for large vocabularies on a CPU. The nucleus is usually small, so we take the
``k`` most probable tokens with a partial top-k; when their mass reaches ``p`` the nucleus lies
inside them and sampling there is exact. Rows whose top-k mass is below ``p`` fall back to a
full sort. Keep rule (as Hugging Face's ``TopPLogitsWarper``): a token stays if the probability
mass of the tokens ranked above it is below ``p``; the most probable token always stays. The
(B, V) probabilities go into a kept buffer (:func:`lmsteer.buffers.softmax_into`).
"""
from __future__ import annotations

import torch

from .buffers import softmax_into


def _nucleus_keep(probs_sorted: torch.Tensor, top_p: float) -> torch.Tensor:
    """For probabilities sorted in descending order (B, K): which stay in the nucleus (B, K)
    bool. A token stays while the mass ranked before it is below top_p; the first always stays."""
    before = probs_sorted.cumsum(dim=-1) - probs_sorted  # (B, K) exclusive cumulative mass
    keep = before < top_p
    keep[..., 0] = True
    return keep


def _nucleus_weights(probs_sorted: torch.Tensor, top_p: float) -> torch.Tensor:
    """Probabilities sorted in descending order (B, K), zeroed outside the nucleus."""
    keep = _nucleus_keep(probs_sorted, top_p)
    return torch.where(keep, probs_sorted, torch.zeros_like(probs_sorted))


def sample_top_p(logits: torch.Tensor, top_p: float, temperature: float = 1.0, k: int = 1024,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """One token id per row of ``logits`` (B, V), drawn from the top-p nucleus."""
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    probs = softmax_into(logits)  # (B, V), a kept buffer: valid within this call
    if top_p >= 1.0:
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)
    k = min(k, probs.shape[-1])
    top_vals, top_idx = torch.topk(probs, k, dim=-1)  # (B, k), descending
    out = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
    inside = top_vals.sum(dim=-1) >= top_p  # rows whose nucleus fits in the top-k
    if inside.any():
        # mass >= top_p inside the top-k, so the nucleus ends within it
        w = _nucleus_weights(top_vals[inside], top_p)
        choice = torch.multinomial(w, 1, generator=generator).squeeze(1)  # (n,)
        out[inside] = top_idx[inside].gather(1, choice[:, None]).squeeze(1)
    rest = (~inside).nonzero().squeeze(1)
    if rest.numel():  # exact fallback: full sort for the rows with a large nucleus
        vals, idx = torch.sort(probs[rest], dim=-1, descending=True)
        w = _nucleus_weights(vals, top_p)
        choice = torch.multinomial(w, 1, generator=generator).squeeze(1)
        out[rest] = idx.gather(1, choice[:, None]).squeeze(1)
    return out


def nucleus_mask(logits: torch.Tensor, top_p: float, k: int = 1024) -> torch.Tensor:
    """True where a token of ``logits`` (B, V) lies in its row's top-p nucleus (B, V), by the
    keep rule of :func:`sample_top_p`; partial top-k first, a full sort for larger nuclei."""
    probs = softmax_into(logits.float())  # (B, V), a kept buffer: valid within this call
    mask = torch.zeros_like(probs, dtype=torch.bool)
    if top_p >= 1.0:
        return mask.fill_(True)
    k = min(k, probs.shape[-1])
    top_vals, top_idx = torch.topk(probs, k, dim=-1)  # (B, k), descending
    inside = top_vals.sum(dim=-1) >= top_p
    rows = inside.nonzero().squeeze(1)
    if rows.numel():  # the nucleus ends within the top-k
        mask[rows] = mask[rows].scatter(1, top_idx[rows], _nucleus_keep(top_vals[rows], top_p))
    rows = (~inside).nonzero().squeeze(1)
    if rows.numel():  # a larger nucleus: full sort
        vals, idx = torch.sort(probs[rows], dim=-1, descending=True)
        mask[rows] = mask[rows].scatter(1, idx, _nucleus_keep(vals, top_p))
    return mask


def nucleus_distribution(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """The renormalised top-p distribution (B, V) by a full sort: the reference for tests."""
    probs = torch.softmax(logits.float(), dim=-1)
    vals, idx = torch.sort(probs, dim=-1, descending=True)
    out = torch.zeros_like(probs).scatter(1, idx, _nucleus_weights(vals, top_p))
    return out / out.sum(dim=-1, keepdim=True)
