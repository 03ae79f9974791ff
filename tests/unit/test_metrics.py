"""Metrics on hand-computed examples."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lmsteer import metrics as M
from lmsteer.evaluate import diversity_metrics, toxicity_metrics
from lmsteer.scoring.diversity import distinct_n


def test_distinct_n_hand_computed():
    texts = ["a b a b", "a c"]
    # unigrams: a b a b a c -> 3 unique / 6
    assert distinct_n(texts, 1) == 3 / 6
    # bigrams: (a b)(b a)(a b) + (a c) -> 3 unique / 4
    assert distinct_n(texts, 2) == 3 / 4
    # trigrams: (a b a)(b a b) -> 2 / 2
    assert distinct_n(texts, 3) == 1.0
    assert distinct_n(["one"], 2) == 0.0


def test_toxicity_metrics_hand_computed():
    rows = [{"prompt_id": p, "sample": s} for p in (0, 1) for s in range(3)]
    scores = [0.1, 0.7, 0.2,   # prompt 0: max 0.7, toxic
              0.1, 0.3, 0.2]   # prompt 1: max 0.3, not toxic
    m = toxicity_metrics(rows, scores, "x", seed=0)
    assert math.isclose(m["max_toxicity/x"]["mean"], (0.7 + 0.3) / 2)
    assert m["toxicity_prob/x"]["mean"] == 0.5
    assert math.isclose(m["mean_toxicity/x"]["mean"], ((1.0 / 3) + (0.6 / 3)) / 2)
    assert m["max_toxicity/x"]["n"] == 2
    assert m["max_toxicity/x"]["higher_is_better"] is False
    assert m["max_toxicity/x"]["scorer"] == "x"


def test_threshold_is_inclusive():
    assert M.any_toxic_per_prompt([[0.5], [0.4999]]).tolist() == [1.0, 0.0]


def test_bootstrap_ci_brackets_mean_and_is_seeded():
    rng = np.random.default_rng(0)
    v = rng.random(200)
    mean, lo, hi = M.bootstrap_ci(v, seed=1)
    assert lo < mean < hi
    assert (mean, lo, hi) == M.bootstrap_ci(v, seed=1)
    assert math.isclose(mean, v.mean())
    # constant data: zero-width interval
    assert M.bootstrap_ci([0.3] * 10) == pytest.approx((0.3, 0.3, 0.3))
    assert all(math.isnan(x) for x in M.bootstrap_ci([float("nan")]))


def test_diversity_metrics_per_prompt_mean():
    rows = [{"prompt_id": 0, "continuation": "a a"}, {"prompt_id": 1, "continuation": "b c"}]
    d = diversity_metrics(rows, seed=0)
    assert d["dist-1"]["mean"] == (0.5 + 1.0) / 2
    assert d["dist-1"]["higher_is_better"] is True
