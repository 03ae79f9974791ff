"""The efficiency board (the paper's "Computational Efficiency"): trainable parameters of each
method and its generation-time ratio against the plain LM, beside the paper's numbers.

Parameters come from the result records (the method's own count and the LM's); time ratios from
``bench/bench_methods.py``'s JSON (every method against the plain LM, one process, same prompts
and batch) and ``bench/bench_generation.py``'s (LM-Steer folded and per-sample), for the
backbone each ran on.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterable, Sequence

from . import paper
from .board import Board, Entry, sort_key

log = logging.getLogger(__name__)


def _m(value: float | None) -> dict[str, Any] | None:
    return None if value is None else {"mean": value, "std": None, "ci_low": None,
                                       "ci_high": None, "n": None, "higher_is_better": False}


def _params(text: str) -> float:
    scale = {"K": 1e3, "M": 1e6, "B": 1e9}
    return float(text[:-1]) * scale[text[-1]] if text[-1] in scale else float(text)


def _read_bench(paths: Sequence[Path]) -> tuple[dict, dict[str, dict]]:
    """bench_generation's JSON (lm_steer folded / per-sample ratios) and bench_methods' JSON
    files (every method's ratio, by backbone) from ``paths``; missing files are skipped."""
    generation: dict = {}
    methods: dict[str, dict] = {}
    for path in paths:
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        if "methods" in data:
            methods[data["model"]] = {**data, "_path": path}
        else:
            generation = data
    return generation, methods


def efficiency_board(records: Iterable[dict], bench: Sequence[Path] | Path | None = None
                     ) -> Board | None:
    """One row per backbone x steered method with parameter counts and measured time ratios."""
    paths = [bench] if isinstance(bench, Path) else list(bench or [])
    timing, by_model = _read_bench(paths)
    rows: dict[tuple, Entry] = {}
    for rec in records:
        meth = rec.get("model", {}).get("method", {})
        if rec["method"] == "original" or "trainable_parameters" not in meth:
            continue
        key = (rec["backbone"], rec["method"], rec["task"])
        tp, total = meth["trainable_parameters"], rec["model"].get("num_parameters")
        ratios, sources = {}, [rec["_path"]]
        measured = by_model.get(rec["backbone"], {}).get("methods", {}).get(rec["method"])
        if measured and rec["task"] == "detox":
            ratios["generation_time_ratio/measured"] = _m(measured["ratio"])
            # the bench loads the trained method with the current code: its count wins over a
            # record written before a counting fix (GeDi read 0 before 5041780)
            if measured.get("trainable_parameters", tp) != tp:
                log.warning("%s on %s: %s trainable parameters in its record, %s in the "
                            "efficiency bench; reporting the bench's", rec["method"],
                            rec["backbone"], tp, measured["trainable_parameters"])
                tp = measured["trainable_parameters"]
                sources.append(str(by_model[rec["backbone"]]["_path"]))
        if (timing.get("model"), rec["method"], rec["task"]) == (rec["backbone"], "lm_steer",
                                                                  "detox"):  # timed steer
            ratios.update({"generation_time_ratio/folded": _m(timing["folded_over_plain"]),
                           "generation_time_ratio/per-sample values":
                               _m(timing["per_sample_over_plain"])})
        metrics = {"trainable_parameters": _m(float(tp)),
                   "share_of_lm_parameters": _m(tp / total if total else None), **ratios}
        rows[key] = Entry("efficiency", rec["backbone"], f"{rec['method']} ({rec['task']})",
                          None, None, None, [], {k: v for k, v in metrics.items() if v},
                          sources=sources)
    if not rows:
        return None
    published = [Entry("efficiency", "gpt2 family", r["method"], None, None, None, [],
                       {"trainable_parameters": _m(_params(r["parameters"])),
                        "generation_time_ratio/paper": _m(float(r["speed_ratio"]))},
                       is_paper=True, sources=[paper.SOURCE])
                 for r in paper.read_csv("efficiency")]
    mine = sorted(rows.values(), key=sort_key)
    columns = ["trainable_parameters", "share_of_lm_parameters", "generation_time_ratio/measured",
               "generation_time_ratio/folded", "generation_time_ratio/per-sample values"]
    columns = [c for c in columns if any(c in e.metrics for e in mine)]
    return Board("efficiency", columns, mine, published, {})
