"""Key/value caches as plain tensors: read them out, rebuild them (perturbed) for a forward.

PPLM perturbs the key/value history and MuCoLa re-reads a fixed prompt cache at every step;
both need a fresh cache built from tensors, since a forward appends to the cache it is given.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from transformers import DynamicCache

KV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values (B, heads, T, head_dim)


def cache_tensors(cache: DynamicCache) -> KV:
    """The (keys, values) of every layer of ``cache``."""
    return [(layer.keys, layer.values) for layer in cache.layers]


def build_cache(model: nn.Module, kv: KV, deltas: Sequence[tuple[torch.Tensor, torch.Tensor]]
                | None = None) -> DynamicCache:
    """A new cache for ``model`` holding ``kv`` (plus ``deltas`` per layer; gradients flow)."""
    cache = DynamicCache(config=model.config)
    for i, (k, v) in enumerate(kv):
        if deltas is not None:
            k, v = k + deltas[i][0], v + deltas[i][1]
        cache.update(k, v, i)
    return cache


def expand_mask(mask: torch.Tensor, n: int = 1) -> torch.Tensor:
    """Attention mask (B, T) -> (B, T + n) with ``n`` real positions appended."""
    return torch.cat([mask, torch.ones(mask.shape[0], n, dtype=mask.dtype, device=mask.device)],
                     dim=1)
