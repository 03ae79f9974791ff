"""Score a generations file: toxicity by each scorer, perplexity under a judge LM, dist-n."""
from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import metrics as M
from .scoring import get_scorer
from .scoring.diversity import distinct_n
from .scoring.fluency import conditional_perplexity

log = logging.getLogger(__name__)


def prompt_key(row: dict) -> tuple:
    """A prompt's identity across files: (prompt set, prompt id)."""
    return row.get("prompt_set", ""), row["prompt_id"]


def group_by_prompt(rows: Sequence[dict], values: Sequence[float]) -> list[list[float]]:
    """Per-prompt lists of per-sample values, prompts in first-seen order."""
    groups: dict[Any, list[float]] = defaultdict(list)
    for r, v in zip(rows, values):
        groups[prompt_key(r)].append(float(v))
    return list(groups.values())


def toxicity_metrics(rows: Sequence[dict], scores: Sequence[float], scorer: str,
                     seed: int) -> dict[str, dict]:
    by_prompt = group_by_prompt(rows, scores)
    return {
        f"max_toxicity/{scorer}": M.metric(M.max_per_prompt(by_prompt), False, seed, scorer=scorer),
        f"toxicity_prob/{scorer}": M.metric(M.any_toxic_per_prompt(by_prompt), False, seed,
                                            scorer=scorer),
        f"mean_toxicity/{scorer}": M.metric(M.mean_per_prompt(by_prompt), False, seed,
                                            scorer=scorer),
    }


def positivity_metrics(rows: Sequence[dict], scores: Sequence[float], scorer: str,
                       seed: int) -> dict[str, dict]:
    """Share of samples labelled positive: over all prompts and per prompt set."""
    out = {f"positivity/{scorer}": M.metric(
        M.share_at_least_per_prompt(group_by_prompt(rows, scores)), True, seed, scorer=scorer)}
    sets = sorted({r.get("prompt_set", "") for r in rows})
    if len(sets) > 1 or sets[0]:
        for ps in sets:
            idx = [i for i, r in enumerate(rows) if r.get("prompt_set", "") == ps]
            sub = [rows[i] for i in idx]
            out[f"positivity/{scorer}/{ps}"] = M.metric(M.share_at_least_per_prompt(
                group_by_prompt(sub, [scores[i] for i in idx])), True, seed, scorer=scorer,
                prompt_set=ps)
    return out


ATTRIBUTE_METRICS = {"toxicity": toxicity_metrics, "positive": positivity_metrics}


def diversity_metrics(rows: Sequence[dict], seed: int) -> dict[str, dict]:
    texts: dict[Any, list[str]] = defaultdict(list)
    for r in rows:
        texts[prompt_key(r)].append(r["continuation"])
    return {f"dist-{n}": M.metric([distinct_n(t, n) for t in texts.values()], True, seed)
            for n in (1, 2, 3)}


def evaluate(rows: Sequence[dict], scorers: Sequence[str], judge: tuple[str, Any, Any] | None,
             seed: int = 0, scorer_options: dict[str, dict] | None = None,
             judge_batch_size: int = 16) -> tuple[dict, list[dict], dict]:
    """-> (metrics, per-sample score rows, scorer descriptions)."""
    conts = [r["continuation"] for r in rows]
    per_sample: dict[str, np.ndarray] = {}
    described: dict[str, Any] = {}
    metrics: dict[str, dict] = {}
    for name in scorers:
        scorer = get_scorer(name, **(scorer_options or {}).get(name, {}))
        per_sample[name] = scorer.score(conts)
        described[name] = scorer.describe()
        if scorer.attribute not in ATTRIBUTE_METRICS:
            raise ValueError(f"scorer {name}: no metrics for attribute {scorer.attribute!r}")
        metrics.update(ATTRIBUTE_METRICS[scorer.attribute](rows, per_sample[name], name, seed))
    if judge is not None:
        jname, jmodel, jtok = judge
        ppl = conditional_perplexity(jmodel, jtok, [r["prompt"] for r in rows], conts,
                                     batch_size=judge_batch_size)
        per_sample["perplexity"] = np.asarray(ppl)
        described["perplexity"] = {"name": jname, "attribute": "conditional perplexity",
                                   "dtype": str(next(jmodel.parameters()).dtype)}
        metrics["perplexity"] = M.metric(M.mean_per_prompt(group_by_prompt(rows, ppl)), False,
                                         seed, scorer=jname)
    metrics.update(diversity_metrics(rows, seed))
    score_rows = [{"prompt_set": r.get("prompt_set", ""), "prompt_id": r["prompt_id"],
                   "sample": r["sample"],
                   **{k: (None if not np.isfinite(v[i]) else round(float(v[i]), 6))
                      for k, v in per_sample.items()}}
                  for i, r in enumerate(rows)]
    return metrics, score_rows, described


def prompt_count(rows: Sequence[dict]) -> tuple[int, int]:
    """(number of prompts, samples per prompt) of a generations file."""
    ids = {prompt_key(r) for r in rows}
    return len(ids), (len(rows) // len(ids) if ids else 1)


