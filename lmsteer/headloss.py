"""Next-token NLL through a frozen output matrix, a chunk of rows at a time.

Training a steer or fine-tuning the top blocks of an LM keeps its output matrix ``E`` (V, d)
frozen, yet the plain loss ``cross_entropy(h @ E.T, y)`` materialises (N, V) float32 logits,
their log-softmax and its gradient: for Gemma's 262k vocabulary that memory traffic cost more
than the two matrix products themselves (docs/performance.md). :func:`token_nll` instead computes,
for ``chunk`` rows at a time, the logits, each row's NLL and, in the same pass, the gradient of
the NLL with respect to the row's hidden state, ``(softmax - onehot) @ E``; backward only
scales that stored (N, d) gradient. Same numbers as the plain loss (tests), no (N, V) tensor.

The (C, V) chunk tensors live in buffers kept between calls (:mod:`lmsteer.buffers`): a fresh
(256, 262k) tensor per chunk cost a fifth to a quarter of a bfloat16 Gemma steer step
(``bench/bench_headloss.py``, "fresh" arm). Same kernels, same numbers bit for bit (tests).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .buffers import BUFFERS

CHUNK_BYTES = 256 * 2**20  # float32 logits per chunk: 256 rows for Gemma's 262k vocabulary


def default_chunk(vocab: int) -> int:
    """Rows per chunk: as many as keep the chunk's (C, V) float32 logits within CHUNK_BYTES.

    Rows are independent, so the chunk size changes numbers only by float rounding (tests; bit
    for bit at a steer step's sizes on a CPU without AMX, last bits with AMX: bench_headloss),
    not the loss: 256 rows against the former fixed 64 make a float32 steer step on Gemma ~1.3x
    faster there."""
    return max(1, CHUNK_BYTES // (4 * vocab))


def head_parts(model: nn.Module, head: nn.Module | None = None,
               weight: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None, float | None]:
    """The output matrix of ``head`` (default: the model's), or ``weight`` in its place (e.g. a
    bfloat16 copy), its bias in the same dtype, and the model's final soft cap (or None)."""
    head = model.get_output_embeddings() if head is None else head
    w = head.weight if weight is None else weight
    bias = getattr(head, "bias", None)
    cap = getattr(model.config, "final_logit_softcapping", None) or None
    return w, (None if bias is None else bias.to(w.dtype)), cap


def _chunk_logits(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                  reuse: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """float32 logits (C, V) of rows ``h`` (C, d), and the head-dtype buffer that held the
    product (None without ``reuse``; the float32 logits themselves for a float32 head)."""
    if not reuse:
        return nn.functional.linear(h, weight, bias).float(), None
    c, v = h.shape[0], weight.shape[0]
    low = BUFFERS.take("logits", c, v, weight.dtype, h.device)  # (C, V)
    if bias is None:  # what linear runs: mm, or addmm with a bias
        torch.mm(h, weight.t(), out=low)
    else:
        torch.addmm(bias, h, weight.t(), out=low)
    if weight.dtype == torch.float32:
        return low, low
    return BUFFERS.take("logits32", c, v, torch.float32, h.device).copy_(low), low


class _TokenNLL(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, target: torch.Tensor,
                bias: torch.Tensor | None, softcap: float | None, chunk: int,
                reuse: bool) -> torch.Tensor:
        n, want_grad = hidden.shape[0], ctx.needs_input_grad[0]
        nll = torch.empty(n, dtype=torch.float32, device=hidden.device)  # (N,)
        grad = torch.empty(hidden.shape if want_grad else (0,), dtype=torch.float32,
                           device=hidden.device)  # (N, d): d nll_i / d hidden_i
        h = hidden.detach().to(weight.dtype)
        for i in range(0, n, chunk):
            y = target[i:i + chunk]  # (C,)
            rows = torch.arange(len(y), device=y.device)
            z, low = _chunk_logits(h[i:i + chunk], weight, bias, reuse)  # (C, V) float32
            if softcap:
                z.div_(softcap).tanh_()  # t = tanh(z / cap); logits = cap * t
                slope = 1 - z * z  # d logits / d z, (C, V)
                z.mul_(softcap)
            picked = z[rows, y].clone()  # (C,) target logits
            top = z.amax(-1, keepdim=True)  # (C, 1)
            z.sub_(top).exp_()
            total = z.sum(-1, keepdim=True)  # (C, 1)
            nll[i:i + chunk] = top.squeeze(1) + total.squeeze(1).log() - picked
            if not want_grad:
                continue
            z.div_(total)
            z[rows, y] -= 1  # d nll / d logits = softmax - onehot
            if softcap:
                z.mul_(slope)
            if low is None:
                low = z.to(weight.dtype)
            elif low is not z:
                low.copy_(z)  # (C, V) in the head's dtype
            grad[i:i + chunk] = (low @ weight).float()  # (C, d)
        ctx.save_for_backward(grad)
        ctx.hidden_dtype = hidden.dtype
        return nll

    @staticmethod
    def backward(ctx: Any, grad_nll: torch.Tensor):
        (grad,) = ctx.saved_tensors
        return (grad * grad_nll[:, None]).to(ctx.hidden_dtype), None, None, None, None, None, None


def token_nll(hidden: torch.Tensor, weight: torch.Tensor, target: torch.Tensor,
              bias: torch.Tensor | None = None, softcap: float | None = None,
              chunk: int | None = None, reuse: bool = True) -> torch.Tensor:
    """NLL of ``target`` (N,) under logits ``linear(hidden, weight, bias)``, optionally soft-
    capped as Gemma-2 does (``cap * tanh(logits / cap)``): (N,) float32.

    Differentiable with respect to ``hidden`` (N, d) only; ``weight`` (V, d) and ``bias`` are
    treated as frozen constants, so a weight that requires grad is refused. ``chunk``: rows
    per pass (default :func:`default_chunk` of the vocabulary). ``reuse``: keep the chunk's
    (C, V) tensors in :data:`BUFFERS` between calls (False: allocate them per chunk, as before;
    the same numbers)."""
    if weight.requires_grad or (bias is not None and bias.requires_grad):
        raise ValueError("token_nll treats the output matrix as frozen; it requires grad")
    if hidden.ndim != 2 or target.shape != hidden.shape[:1]:
        raise ValueError(f"token_nll wants hidden (N, d) and target (N,), got "
                         f"{tuple(hidden.shape)} and {tuple(target.shape)}")
    chunk = default_chunk(weight.shape[0]) if chunk is None else chunk
    if chunk < 1:
        raise ValueError("chunk must be >= 1")
    return _TokenNLL.apply(hidden, weight, target, bias, softcap, chunk, reuse)
