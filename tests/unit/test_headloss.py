"""The chunked head loss against the plain full-logit cross-entropy it replaces."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from lmsteer.buffers import BUFFERS
from lmsteer.headloss import CHUNK_BYTES, default_chunk, token_nll

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from bench_headloss import plain_lm_loss, plain_token_nll  # noqa: E402  the losses as they were


def _case(n=13, d=8, v=50, seed=0, bias=False):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, d, generator=g)
    weight = torch.randn(v, d, generator=g)
    target = torch.randint(v, (n,), generator=g)
    b = torch.randn(v, generator=g) if bias else None
    return hidden, weight, target, b


@pytest.mark.parametrize("chunk", [1, 4, 13, 100])
@pytest.mark.parametrize("bias,softcap", [(False, None), (True, None), (False, 3.0)])
def test_token_nll_matches_plain_loss_and_gradient(chunk, bias, softcap):
    hidden, weight, target, b = _case(bias=bias)
    upstream = torch.rand(hidden.shape[0])  # a weighting, so each row's gradient is checked
    h1 = hidden.clone().requires_grad_()
    ref = plain_token_nll(h1, weight, target, b, softcap)
    (ref * upstream).sum().backward()
    h2 = hidden.clone().requires_grad_()
    got = token_nll(h2, weight, target, b, softcap, chunk=chunk)
    (got * upstream).sum().backward()
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(h2.grad, h1.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_chunk_size_changes_no_number(dtype):
    """Rows are independent: the memory-sized default chunk and small fixed ones give the same
    losses and gradients up to float rounding (a one-row product may take another kernel)."""
    hidden, weight, target, _ = _case(n=40, d=16, v=300, seed=1)
    w = weight.to(dtype)
    assert default_chunk(300) >= 40  # one chunk holds every row here
    runs = []
    for chunk in (None, 1, 7, 64):
        h = hidden.clone().requires_grad_()
        nll = token_nll(h, w, target, chunk=chunk)
        nll.sum().backward()
        runs.append((nll.detach(), h.grad))
    for nll, grad in runs[1:]:
        torch.testing.assert_close(nll, runs[0][0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(grad, runs[0][1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("bias,softcap", [(False, None), (True, None), (False, 3.0)])
def test_reused_buffers_give_the_numbers_of_fresh_ones_bit_for_bit(dtype, bias, softcap):
    """The kept (C, V) buffers run the kernels ``linear`` runs: losses and gradients equal the
    per-chunk allocation's exactly, across calls of other sizes that grow the buffers."""
    BUFFERS.clear()
    for n, chunk in ((13, 4), (40, 64), (7, 3)):  # a smaller, a larger, then a smaller call
        hidden, weight, target, b = _case(n=n, d=16, v=300, seed=n, bias=bias)
        w, b = weight.to(dtype), None if b is None else b.to(dtype)
        runs = []
        for reuse in (False, True):
            h = hidden.clone().requires_grad_()
            nll = token_nll(h, w, target, b, softcap, chunk=chunk, reuse=reuse)
            (nll * torch.linspace(0.5, 1.5, n)).sum().backward()
            runs.append((nll.detach(), h.grad))
        assert torch.equal(runs[0][0], runs[1][0]) and torch.equal(runs[0][1], runs[1][1])
        assert runs[1][1].abs().sum() > 0


def test_buffers_are_kept_between_calls_and_grow_only():
    BUFFERS.clear()
    hidden, weight, target, _ = _case(n=40, d=16, v=300)

    def storage(rows):
        return BUFFERS.take("logits", rows, 300, torch.float32, hidden.device).data_ptr()

    token_nll(hidden, weight, target, chunk=40)
    big = storage(40)
    token_nll(hidden, weight, target, chunk=40)  # same size: the same storage
    assert storage(40) == big
    token_nll(hidden, weight, target, chunk=10)  # smaller: a view of it, not a new one
    assert storage(10) == big
    BUFFERS.clear()


def test_default_chunk_keeps_the_float32_logits_within_the_budget():
    assert default_chunk(262144) == 256  # Gemma-3: (256, 262k) float32 = 256 MiB
    for vocab in (50, 49152, 50257, 262144, 10 ** 9):
        rows = default_chunk(vocab)
        assert rows >= 1 and (rows == 1 or rows * vocab * 4 <= CHUNK_BYTES)


def test_token_nll_with_a_bfloat16_matrix_matches_the_mixed_precision_loss():
    hidden, weight, target, _ = _case(n=40, d=16, v=300)
    wb = weight.to(torch.bfloat16)
    h1 = hidden.clone().requires_grad_()
    plain_token_nll(h1, wb, target).mean().backward()
    h2 = hidden.clone().requires_grad_()
    loss = token_nll(h2, wb, target, chunk=7).mean()
    loss.backward()
    torch.testing.assert_close(loss, plain_token_nll(hidden, wb, target).mean(),
                               rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(h2.grad, h1.grad, rtol=2e-2, atol=1e-4)
    assert h2.grad.dtype == torch.float32


def test_token_nll_without_grad_gives_the_same_values():
    hidden, weight, target, _ = _case()
    with torch.no_grad():
        got = token_nll(hidden, weight, target, chunk=5)
    torch.testing.assert_close(got, plain_token_nll(hidden, weight, target), rtol=1e-5, atol=1e-5)


def test_token_nll_refuses_a_trainable_matrix_and_bad_shapes():
    hidden, weight, target, _ = _case()
    with pytest.raises(ValueError, match="frozen"):
        token_nll(hidden, weight.clone().requires_grad_(), target)
    with pytest.raises(ValueError, match=r"\(N, d\)"):
        token_nll(hidden[None], weight, target)
    with pytest.raises(ValueError, match="chunk"):
        token_nll(hidden, weight, target, chunk=0)


def test_lm_loss_and_its_gradient_match_the_full_logit_loss(tiny):
    from baselines.finetune import lm_loss, only_trainable, top_block_parameters

    model, tok, family = tiny
    texts = ["the cat sat on the mat .", "you are a kind person", "a dog ran in the park . i"]
    params = top_block_parameters(model, 1)
    grads = []
    with only_trainable(model, list(params.values())):
        for fn in (plain_lm_loss, lm_loss):
            model.zero_grad(set_to_none=True)
            loss = fn(model, tok, texts, 16)
            loss.backward()
            grads.append((loss.detach(), [p.grad.clone() for p in params.values()]))
    (ref, ref_g), (got, got_g) = grads
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(got_g, ref_g):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert any(g.abs().sum() > 0 for g in got_g), family


def test_lm_loss_trains_a_tuned_head_through_the_full_logits(tiny_llama):
    from baselines.finetune import lm_loss, only_trainable

    model, tok = tiny_llama
    head = model.get_output_embeddings().weight
    with only_trainable(model, [head]):
        lm_loss(model, tok, ["the cat sat on the mat ."], 16).backward()
    assert head.grad is not None and head.grad.abs().sum() > 0


def test_gedi_sequence_log_likelihood_matches_the_full_logit_one(tiny_llama):
    from baselines.gedi import _seq_logprob

    model, tok = tiny_llama
    texts = ["the cat sat on the mat .", "a dog", "you are a kind person . i love this"]
    tok.padding_side = "right"
    enc = tok([f"positive: {t}" for t in texts], return_tensors="pt", padding=True)
    n_code = len(tok("positive:", add_special_tokens=False)["input_ids"])
    logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
    lp = torch.log_softmax(logits[:, :-1].float(), -1).gather(
        -1, enc["input_ids"][:, 1:, None]).squeeze(-1)  # (B, T-1)
    keep = enc["attention_mask"][:, 1:].clone().float()
    keep[:, :n_code] = 0
    ref = (lp * keep).sum(1) / keep.sum(1).clamp(min=1)
    torch.testing.assert_close(_seq_logprob(model, tok, "positive:", texts, 32), ref,
                               rtol=1e-5, atol=1e-5)
