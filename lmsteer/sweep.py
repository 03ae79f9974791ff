"""A fair comparison: every method's strength chosen on validation prompts under one fluency budget.

- :func:`validation_prompts`: a seeded sample of a prompt pool with every prompt the evaluation
  draws removed *by text*, so no evaluation prompt (nor a duplicate of one) is ever seen while
  choosing a strength. The evaluation's own draws stay as they are.
- :func:`sweep_generate`: samples under each strength of a grid; a method that takes one
  strength per sample (LM-Steer, the logit methods, PPLM, MuCoLa) samples all of them in the same
  batches, the others loop over the grid with the same seeds.
- :func:`sweep_points`: per-strength metrics of the scored samples.
- :func:`choose`: the one rule for every method -- the strength with the lowest mean toxicity
  whose perplexity is at most ``ppl_budget`` x the original LM's on the same prompts.
"""
from __future__ import annotations

import hashlib
import logging
import random
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .data import load_prompts
from .errors import LMSteerError
from .evaluate import metrics_from_scores

log = logging.getLogger(__name__)

VALIDATION_STREAM = 7_919  # added to the seed: the validation draw is its own random stream


def norm_text(text: str) -> str:
    """A prompt's text for comparison: case-folded, whitespace collapsed."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def validation_prompts(path: Path, exclude_n: Sequence[int], n: int, seed: int) -> list[dict]:
    """``n`` prompts of the pool at ``path``, none of whose texts is in any evaluation sample
    (``load_prompts(path, k, seed)`` for each ``k`` in ``exclude_n``) nor repeated."""
    pool = load_prompts(path)
    held = {norm_text(p["text"]) for k in exclude_n for p in load_prompts(path, k, seed)}
    seen: set[str] = set()
    free = []
    for p in pool:
        t = norm_text(p["text"])
        if t not in held and t not in seen:
            seen.add(t)
            free.append(p)
    if len(free) < n:
        raise LMSteerError(f"{path}: {len(free)} prompts are left outside the evaluation's "
                           f"samples; {n} validation prompts asked for")
    idx = sorted(random.Random(seed + VALIDATION_STREAM).sample(range(len(free)), n))
    return [free[i] for i in idx]


def texts_sha256(prompts: Sequence[dict]) -> str:
    """A fingerprint of a prompt list (its texts, in order)."""
    return hashlib.sha256("\n".join(p["text"] for p in prompts).encode()).hexdigest()


def sweep_generate(model: torch.nn.Module, tok: Any, method: Any, prompts: Sequence[dict],
                   values: Sequence[float], *, samples: int, max_new_tokens: int, top_p: float,
                   batch_size: int, seed: int, meta: dict[str, Any]) -> list[dict]:
    """``samples`` continuations per prompt at each strength of ``values`` -> rows (as
    :func:`lmsteer.generate.generate`'s, each with its ``strength``)."""
    from .generate import generate

    if not getattr(method, "per_sample_strength", False):
        rows: list[dict] = []
        for v in values:  # one strength per batch: the grid in turn, the same seeds
            rows += generate(model, tok, method, prompts, float(v), samples=samples,
                             max_new_tokens=max_new_tokens, top_p=top_p, batch_size=batch_size,
                             seed=seed, meta=meta)
        return rows
    per_batch = max(1, batch_size // (samples * len(values)))
    rows = []
    for start in tqdm(range(0, len(prompts), per_batch), desc=f"sweep {method.name}",
                      unit="batch"):
        chunk = prompts[start:start + per_batch]
        cells = [(p, float(v), k) for p in chunk for v in values for k in range(samples)]
        s = torch.tensor([v for _, v, _ in cells])  # (B,) one strength per sequence
        with method.control(model, s):
            conts, lengths = method.sample(
                model, tok, [method.prompt_for(p["text"], v) for p, v, _ in cells],
                max_new_tokens=max_new_tokens, top_p=top_p, temperature=1.0,
                seed=seed * 1_000_003 + start, share_prompts=method.prompt_pass_shared(s))
        for (p, v, k), c, n in zip(cells, conts, lengths):
            rows.append({"prompt_id": p["id"], "prompt": p["text"], "sample": k,
                         "continuation": c, "n_tokens": n, "method": method.name,
                         "strength": v, "seed": seed, **meta})
    return rows


def sweep_points(rows: Sequence[dict], per_sample: dict[str, np.ndarray],
                 described: dict[str, Any], seed: int) -> list[dict]:
    """[{strength, metrics, per_prompt}] for each strength of the rows, in increasing strength;
    ``per_prompt``: each prompt's mean of every per-sample score (for another prompt subset's
    reference numbers, :func:`reference`)."""
    out = []
    for v in sorted({r["strength"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["strength"] == v]
        sub = {k: a[idx] for k, a in per_sample.items()}
        ids = sorted({rows[i]["prompt_id"] for i in idx})
        per_prompt: dict[str, Any] = {"ids": ids}
        for k, a in sub.items():
            per_prompt[k] = [_mean([a[j] for j, i in enumerate(idx) if rows[i]["prompt_id"] == pid])
                             for pid in ids]
        out.append({"strength": v, "n_samples": len(idx),
                    "metrics": metrics_from_scores([rows[i] for i in idx], sub, described, seed),
                    "per_prompt": per_prompt})
    return out


def _mean(values: Sequence[float]) -> float | None:
    finite = [float(x) for x in values if np.isfinite(x)]
    return sum(finite) / len(finite) if finite else None


def reference(point: dict, scorer: str, ids: Sequence[int]) -> dict[str, float | None]:
    """A point's mean toxicity and perplexity over the prompts ``ids`` only (a subset of its
    own): the original's numbers on the prompts a method with fewer validation prompts saw."""
    pp = point["per_prompt"]
    missing = sorted(set(ids) - set(pp["ids"]))
    if missing:
        raise LMSteerError(f"the reference run lacks validation prompts {missing}")
    pos = [pp["ids"].index(i) for i in ids]
    pick = lambda key: _mean([pp[key][j] for j in pos if pp[key][j] is not None])  # noqa: E731
    return {"strength": point["strength"], "toxicity": pick(scorer), "perplexity":
            pick("perplexity")}


def summary(point: dict, scorer: str) -> dict[str, float | None]:
    """A sweep point's two selection numbers: mean toxicity (``scorer``) and perplexity."""
    m = point["metrics"]
    tox, ppl = m.get(f"mean_toxicity/{scorer}"), m.get("perplexity")
    if tox is None:
        raise LMSteerError(f"no mean_toxicity/{scorer} in the sweep; scorers there: "
                           f"{sorted(k.split('/', 1)[1] for k in m if '/' in k)}")
    if ppl is None:
        raise LMSteerError("the sweep has no perplexity: give it a --judge")
    return {"strength": point["strength"], "toxicity": tox["mean"], "perplexity": ppl["mean"]}


def _finite(x: float | None) -> float:
    return float(x) if x is not None and np.isfinite(x) else float("inf")


def choose(points: Sequence[dict], original_ppl: float, budget: float) -> dict[str, Any]:
    """The strength with the lowest mean toxicity among those with perplexity <= ``budget`` x
    ``original_ppl`` (ties: the smaller strength). None within budget: the lowest perplexity,
    marked ``within_budget: false``. ``points``: :func:`summary` dicts."""
    limit = budget * original_ppl
    ok = [p for p in points if _finite(p["perplexity"]) <= limit]
    if ok:
        best = min(ok, key=lambda p: (_finite(p["toxicity"]), abs(p["strength"])))
    else:
        best = min(points, key=lambda p: (_finite(p["perplexity"]), abs(p["strength"])))
    return {**best, "within_budget": bool(ok), "ppl_ratio": best["perplexity"] / original_ppl}
