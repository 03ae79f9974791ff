"""Conditional perplexity equals a direct computation with the full model."""
from __future__ import annotations

import math

import torch

from lmsteer.models import load_model
from lmsteer.scoring.fluency import conditional_perplexity


def test_conditional_perplexity_matches_full_forward():
    model, tok = load_model("tiny-gpt2")
    prompts, conts = ["the cat", "you are a"], [" sat on the mat", " kind person"]
    got = conditional_perplexity(model, tok, prompts, conts, batch_size=2, progress=False)
    for p, c, g in zip(prompts, conts, got):
        p_ids = tok(p)["input_ids"]
        ids = torch.tensor([tok(p + c)["input_ids"]])
        with torch.no_grad():
            logp = model(input_ids=ids).logits.log_softmax(-1)[0, :-1]
        tgt = ids[0, 1:]
        nll = -logp[torch.arange(len(tgt)), tgt][len(p_ids) - 1:]
        assert math.isclose(g, math.exp(nll.mean().item()), rel_tol=1e-4)


def test_empty_continuation_is_nan():
    model, tok = load_model("tiny-gpt2")
    assert math.isnan(conditional_perplexity(model, tok, ["the cat"], [""], progress=False)[0])


def test_shared_prompt_pass_gives_the_full_forwards_perplexities(tiny):
    """Pairs that share a prompt run it once and continue from its cache: the same perplexities
    as one right-padded forward per pair, on every family, across batch edges, with prompts of
    other lengths and an empty continuation in the batch."""
    model, tok, _ = tiny
    prompts = ["the cat sat on the mat"] * 4 + ["you"] * 3 + ["so I said that"] * 2
    conts = [" and then", " , a dog", "", " was happy about it all", " are", " are not nice",
             " know", " it was", " no"]
    full = conditional_perplexity(model, tok, prompts, conts, batch_size=5, progress=False,
                                  share_prompts=False)
    shared = conditional_perplexity(model, tok, prompts, conts, batch_size=5, progress=False)
    assert math.isnan(full[2]) and math.isnan(shared[2])
    for f, s in zip(full[:2] + full[3:], shared[:2] + shared[3:]):
        assert math.isclose(f, s, rel_tol=1e-4), (f, s)
