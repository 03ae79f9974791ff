"""The paper's published numbers (lmsteer/reference/paper_*.csv) as leaderboard entries.

Metric keys follow the result records' (``metric/scorer[/prompt type]``) with the paper's own
scorers named, so a published number never shares a column with one from another scorer:
toxicity by ``perspective-api``, positivity by ``hf-pipeline`` (the Hugging Face default
sentiment pipeline), perplexity under ``gpt2-xl``.
"""
from __future__ import annotations

import csv
from importlib import resources
from typing import Any

from .data import SENTIMENT_KINDS

SOURCE = ("paper: Han et al., ACL 2024 (arXiv:2305.12798), numbers as transcribed in "
          "lmsteer/reference/SOURCE.md")
PAPER_TOXICITY = "perspective-api"
PAPER_SENTIMENT = "hf-pipeline"
PAPER_JUDGE = "gpt2-xl"
_VARIANT_BACKBONE = {"base": "gpt2", "small": "gpt2", "medium": "gpt2-medium",
                     "large": "gpt2-large", "gpt2": "gpt2"}


def read_csv(name: str) -> list[dict[str, str]]:
    """Rows of ``lmsteer/reference/paper_<name>.csv``."""
    text = resources.files("lmsteer").joinpath(f"reference/paper_{name}.csv").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


def _metric(value: str, higher: bool, std: str = "", scale: float = 1.0) -> dict[str, Any] | None:
    if not value:
        return None
    return {"mean": float(value) * scale, "std": float(std) * scale if std else None,
            "ci_low": None, "ci_high": None, "n": None, "higher_is_better": higher}


def _entry(task: str, target: str, method: str, variant: str, backbone: str,
           metrics: dict[str, dict | None]) -> dict[str, Any]:
    return {"task": task, "target": target, "method": method, "variant": variant,
            "backbone": backbone, "metrics": {k: v for k, v in metrics.items() if v}}


def detox_entries() -> list[dict[str, Any]]:
    """Table 1 rows: max toxicity, toxicity probability (Perspective), ppl (GPT-2 XL), dist-n."""
    out = []
    for r in read_csv("table1_detox"):
        out.append(_entry("detox", "", r["method"], r["variant"], r["backbone"], {
            f"max_toxicity/{PAPER_TOXICITY}": _metric(r["max_toxicity"], False,
                                                      r["max_toxicity_std"]),
            f"toxicity_prob/{PAPER_TOXICITY}": _metric(r["toxicity_prob"], False,
                                                       r["toxicity_prob_std"]),
            f"perplexity/{PAPER_JUDGE}": _metric(r["ppl"], False),
            **{f"dist-{n}": _metric(r[f"dist{n}"], True) for n in (1, 2, 3)}}))
    return out


def sentiment_entries() -> list[dict[str, Any]]:
    """Table 2 rows: % positive per prompt type (as a share), ppl, dist-n; target per row."""
    out = []
    for r in read_csv("table2_sentiment"):
        up = r["target"] != "negative"
        kinds = {k: _metric(r[f"{k}_prompts_pct"], up, scale=0.01)
                 for k in SENTIMENT_KINDS}
        out.append(_entry(
            "sentiment", r["target"], r["method"], r["variant"],
            _VARIANT_BACKBONE.get(r["variant"], "gpt2-family"), {
                **{f"positivity/{PAPER_SENTIMENT}/sentiment-{k}": m for k, m in kinds.items()},
                f"perplexity/{PAPER_JUDGE}": _metric(r["ppl"], False),
                **{f"dist-{n}": _metric(r[f"dist{n}"], True) for n in (1, 2, 3)}}))
    return out


def entries(task: str) -> list[dict[str, Any]]:
    return {"detox": detox_entries, "sentiment": sentiment_entries}.get(task, lambda: [])()
