"""Scratch tensors kept from call to call, for the per-step (rows, vocabulary) tensors.

A fresh (256, 262k) float32 tensor costs the kernel a page fault and a zeroed page per 4 KiB
(allocations that large are mapped anew each time): on an AMD EPYC with 2 cores, a fifth to a
quarter of a bfloat16 Gemma steer step (``bench/bench_headloss.py``, "fresh" arm) and four
fifths of the (100, 262k) softmax of a sampling step (``bench/bench_buffers.py``). The head
loss (:mod:`lmsteer.headloss`) and top-p sampling (:mod:`lmsteer.sampling`) write those tensors
into :data:`BUFFERS` instead: the same kernels, so the same numbers bit for bit (tests).
"""
from __future__ import annotations

import torch


class Buffers:
    """One flat store per (name, dtype, device) that grows to the largest request and is
    reused after. A view it returns is valid until the next ``take`` of the same name."""

    def __init__(self) -> None:
        self._store: dict[tuple, torch.Tensor] = {}

    def take(self, name: str, rows: int, cols: int, dtype: torch.dtype,
             device: torch.device) -> torch.Tensor:
        """An uninitialised (rows, cols) view of the ``name`` buffer."""
        key, need = (name, dtype, str(device)), rows * cols
        buf = self._store.get(key)
        if buf is None or buf.numel() < need:
            self._store.pop(key, None)  # free the old one before allocating the larger
            buf = self._store[key] = torch.empty(need, dtype=dtype, device=device)
        return buf[:need].view(rows, cols)

    def clear(self) -> None:
        """Release every buffer (e.g. before a memory-hungry step in the same process)."""
        self._store.clear()


BUFFERS = Buffers()


def softmax_into(logits: torch.Tensor) -> torch.Tensor:
    """``torch.softmax(logits, -1)`` of float32 ``logits`` (B, V), written into the kept
    ``probs`` buffer (ATen's softmax kernel with an ``out``: the same numbers)."""
    if logits.dtype != torch.float32 or logits.ndim != 2:
        raise ValueError(f"softmax_into wants float32 (B, V) logits, got {logits.dtype} "
                         f"{tuple(logits.shape)}")
    out = BUFFERS.take("probs", *logits.shape, torch.float32, logits.device)  # (B, V)
    return torch.ops.aten._softmax.out(logits.contiguous(), -1, False, out=out)

