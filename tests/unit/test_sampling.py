"""The fast nucleus sampler draws from exactly the top-p distribution; the decode loop matches
Hugging Face's generate() on every tiny architecture."""
from __future__ import annotations

import torch

from lmsteer.generate import sample_batch
from lmsteer.sampling import nucleus_distribution, nucleus_mask, sample_top_p


def test_nucleus_matches_hf_top_p_warper():
    from transformers.generation.logits_process import TopPLogitsWarper

    torch.manual_seed(0)
    logits = torch.randn(6, 500) * 3
    for p in (0.5, 0.9, 0.99):
        ref = torch.softmax(TopPLogitsWarper(p)(None, logits.clone()), dim=-1)
        torch.testing.assert_close(nucleus_distribution(logits, p), ref, atol=1e-6, rtol=1e-5)


def test_sampler_frequencies_match_nucleus_distribution_both_paths():
    torch.manual_seed(1)
    logits = torch.randn(1, 300) * 2
    target = nucleus_distribution(logits, 0.9)[0]
    n = 40000
    for k in (1024, 8):  # k=8: top-k mass < p, so every draw takes the full-sort fallback
        gen = torch.Generator().manual_seed(2)
        draws = sample_top_p(logits.expand(n, -1), 0.9, k=k, generator=gen)
        freq = torch.bincount(draws, minlength=300).float() / n
        assert set(draws.unique().tolist()) <= set(target.nonzero().squeeze(1).tolist())
        assert (freq - target).abs().max() < 0.01


def test_nucleus_mask_is_the_support_of_the_nucleus_both_paths():
    g = torch.Generator().manual_seed(3)
    logits = torch.cat([torch.randn(3, 5000, generator=g) * 4,  # peaked: fits in the top-k
                        torch.randn(2, 5000, generator=g) * 0.01])  # flat: the full-sort path
    for p in (0.5, 0.9):
        ref = nucleus_distribution(logits, p) > 0
        assert torch.equal(nucleus_mask(logits, p, k=64), ref)
    assert nucleus_mask(logits, 1.0).all()


def test_sampler_is_seeded():
    logits = torch.randn(4, 100)
    a = sample_top_p(logits, 0.9, generator=torch.Generator().manual_seed(5))
    b = sample_top_p(logits, 0.9, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_decode_loop_matches_hf_generate_greedy(tiny):
    model, tok, _ = tiny
    texts = ["the cat sat", "you"]  # different lengths: exercises left padding
    ours, _ = sample_batch(model, tok, texts, max_new_tokens=6, greedy=True)
    enc = tok(texts, return_tensors="pt", padding=True)
    ref = model.generate(**enc, do_sample=False, max_new_tokens=6, pad_token_id=tok.pad_token_id,
                         eos_token_id=tok.eos_token_id)
    ref_txt = tok.batch_decode(ref[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    assert ours == ref_txt
