"""Kept per-step buffers: the same numbers as fresh tensors."""
from __future__ import annotations

import pytest
import torch

import lmsteer.sampling as sampling
from lmsteer.buffers import BUFFERS, softmax_into
from lmsteer.sampling import sample_top_p


def test_softmax_into_is_torch_softmax_bit_for_bit_and_reuses_its_buffer():
    BUFFERS.clear()
    g = torch.Generator().manual_seed(0)
    big = torch.randn(6, 5000, generator=g) * 4
    first = softmax_into(big)
    assert torch.equal(first, torch.softmax(big, -1))
    small = torch.randn(12, 40, generator=g).t()  # (40, 12), not contiguous
    again = softmax_into(small)
    assert torch.equal(again, torch.softmax(small, -1))
    assert again.data_ptr() == first.data_ptr()  # a view of the same kept storage
    with pytest.raises(ValueError, match="float32"):
        softmax_into(big.bfloat16())
    with pytest.raises(ValueError, match=r"\(B, V\)"):
        softmax_into(big[None])
    BUFFERS.clear()


def test_sampler_draws_the_same_tokens_as_with_a_fresh_softmax(monkeypatch):
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(30, 3000, generator=g) * 3
    logits[:10] *= 0.05  # flat rows: nuclei larger than the top-k, the full-sort path

    def draw():
        return sample_top_p(logits, 0.9, k=256, generator=torch.Generator().manual_seed(7))

    kept = draw()
    monkeypatch.setattr(sampling, "softmax_into", lambda x: torch.softmax(x, -1))
    assert torch.equal(kept, draw())
