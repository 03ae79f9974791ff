"""Score a generations file: toxicity by each scorer, perplexity under a judge LM, dist-n."""
from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import metrics as M
from .errors import DataError
from .scoring import get_scorer
from .scoring.diversity import distinct_n
from .scoring.fluency import conditional_perplexity

log = logging.getLogger(__name__)


def prompt_key(row: dict) -> tuple:
    """A prompt's identity across files: (prompt set, prompt id)."""
    return row.get("prompt_set", ""), row["prompt_id"]


RUN_KEYS = ("model", "method", "strength", "seed")
ROW_KEYS = ("prompt_id", "sample", "prompt", "continuation", *RUN_KEYS)


def check_one_run(rows: Sequence[dict], what: str) -> None:
    """Refuse generations of several models, methods, strengths or seeds: one record is one
    run."""
    if len({tuple(r.get(k) for k in RUN_KEYS) for r in rows}) > 1:
        raise DataError(f"{what} mix models, methods, strengths or seeds; keep runs apart")


def load_generations(paths: Sequence[Path]) -> list[dict]:
    """The rows of one run's generation files, checked: every row has the fields scoring needs,
    no file is given twice, no (prompt set, prompt, sample) repeats, and every file holds the
    same model, method, strength and seed as the first. Errors name the file."""
    from .io import read_jsonl

    rows: list[dict] = []
    seen: dict[tuple, Path] = {}
    first: tuple | None = None
    files: set[Path] = set()
    for path in map(Path, paths):
        if path.resolve() in files:
            raise DataError(f"{path}: given twice; each generations file counts once")
        files.add(path.resolve())
        part = read_jsonl(path)
        if not part:
            raise DataError(f"{path}: no generations")
        for i, r in enumerate(part, 1):
            missing = [k for k in ROW_KEYS if k not in r]
            if missing:
                raise DataError(f"{path}: row {i} lacks {', '.join(map(repr, missing))} "
                                "(not a generations file of `lmsteer generate`?)")
            if not isinstance(r["continuation"], str):
                raise DataError(f"{path}: row {i}: 'continuation' is not a string")
            run = tuple(r[k] for k in RUN_KEYS)
            first = first or run
            if run != first:
                raise DataError(f"{path}: row {i} is from another run ({dict(zip(RUN_KEYS, run))}"
                                f" vs. {dict(zip(RUN_KEYS, first))}); score one run at a time")
            key = (*prompt_key(r), r["sample"])
            if key in seen:
                raise DataError(f"{path}: row {i} repeats sample {r['sample']} of prompt "
                                f"{r['prompt_id']} (also in {seen[key]}); duplicated rows")
            seen[key] = path
        rows += part
    return rows


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


def score_samples(rows: Sequence[dict], scorers: Sequence[str],
                  judge: tuple[str, Any, Any] | None, scorer_options: dict[str, dict] | None = None,
                  judge_batch_size: int = 16) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Per-sample scores of every scorer (and the judge's perplexity) -> (scores, descriptions)."""
    conts = [r["continuation"] for r in rows]
    per_sample: dict[str, np.ndarray] = {}
    described: dict[str, Any] = {}
    for name in scorers:
        scorer = get_scorer(name, **(scorer_options or {}).get(name, {}))
        if scorer.attribute not in ATTRIBUTE_METRICS:
            raise ValueError(f"scorer {name}: no metrics for attribute {scorer.attribute!r}")
        per_sample[name] = np.asarray(scorer.score(conts), dtype=float)
        described[name] = {**scorer.describe(), "attribute": scorer.attribute}
    if judge is not None:
        jname, jmodel, jtok = judge
        ppl = conditional_perplexity(jmodel, jtok, [r["prompt"] for r in rows], conts,
                                     batch_size=judge_batch_size)
        per_sample["perplexity"] = np.asarray(ppl, dtype=float)
        described["perplexity"] = {"name": jname, "attribute": "conditional perplexity",
                                   "dtype": str(next(jmodel.parameters()).dtype)}
    return per_sample, described


def metrics_from_scores(rows: Sequence[dict], per_sample: dict[str, np.ndarray],
                        described: dict[str, Any], seed: int = 0) -> dict[str, dict]:
    """Every metric with its bootstrap CI from per-sample scores (aligned with ``rows``)."""
    metrics: dict[str, dict] = {}
    for name, vals in per_sample.items():
        if name == "perplexity":
            metrics["perplexity"] = M.metric(M.mean_per_prompt(group_by_prompt(rows, vals)),
                                             False, seed, scorer=described[name]["name"])
        else:
            attr = described[name]["attribute"]
            metrics.update(ATTRIBUTE_METRICS[attr](rows, vals, name, seed))
    metrics.update(diversity_metrics(rows, seed))
    return metrics


def score_rows_of(rows: Sequence[dict], per_sample: dict[str, np.ndarray]) -> list[dict]:
    """One JSON row per sample: its prompt, sample index and every score (None if not finite)."""
    return [{"prompt_set": r.get("prompt_set", ""), "prompt_id": r["prompt_id"],
             "sample": r["sample"],
             **{k: (None if not np.isfinite(v[i]) else round(float(v[i]), 6))
                for k, v in per_sample.items()}}
            for i, r in enumerate(rows)]


def scores_from_rows(rows: Sequence[dict], score_rows: Sequence[dict]) -> dict[str, np.ndarray]:
    """Inverse of :func:`score_rows_of`, checked against the generations they belong to."""
    if len(rows) != len(score_rows):
        raise ValueError(f"{len(score_rows)} score rows for {len(rows)} generations")
    for r, s in zip(rows, score_rows):
        if (prompt_key(r), r["sample"]) != ((s["prompt_set"], s["prompt_id"]), s["sample"]):
            raise ValueError(f"score row {s} does not belong to generation {prompt_key(r)}")
    keys = [k for k in score_rows[0] if k not in ("prompt_set", "prompt_id", "sample")] \
        if score_rows else []
    return {k: np.array([np.nan if s[k] is None else s[k] for s in score_rows], dtype=float)
            for k in keys}


def evaluate(rows: Sequence[dict], scorers: Sequence[str], judge: tuple[str, Any, Any] | None,
             seed: int = 0, scorer_options: dict[str, dict] | None = None,
             judge_batch_size: int = 16) -> tuple[dict, list[dict], dict]:
    """-> (metrics, per-sample score rows, scorer descriptions)."""
    per_sample, described = score_samples(rows, scorers, judge, scorer_options, judge_batch_size)
    metrics = metrics_from_scores(rows, per_sample, described, seed)
    return metrics, score_rows_of(rows, per_sample), described


def prompt_count(rows: Sequence[dict]) -> tuple[int, int]:
    """(number of prompts, samples per prompt) of a generations file."""
    ids = {prompt_key(r) for r in rows}
    return len(ids), (len(rows) // len(ids) if ids else 1)


