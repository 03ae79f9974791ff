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
