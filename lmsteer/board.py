"""The leaderboard's rows and boards, their order and their cell text: what the Markdown, CSV,
HTML and efficiency renderers share (so none of them imports another)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

METRIC_ORDER = ["max_toxicity", "toxicity_prob", "mean_toxicity", "positivity", "perplexity",
                "dist-1", "dist-2", "dist-3"]
METHOD_ORDER = ["original", "lm_steer"]


@dataclass
class Entry:
    """One leaderboard row."""

    board: str
    backbone: str
    method: str
    strength: float | None
    n_prompts: int | None
    samples: int | None
    seeds: list[int]
    metrics: dict[str, dict[str, Any]]
    variant: str = ""
    is_paper: bool = False
    sources: list[str] = field(default_factory=list)
    prompt_set: str = ""  # the prompts' source (sentiment: the prompt types joined by '+')
    chosen: str = ""  # how the strength was chosen (lmsteer.tables.strength_choice)


def norm_backbone(backbone: str) -> str:
    return backbone.rstrip("/").rsplit("/", 1)[-1].lower()


def sort_key(e: Entry) -> tuple:
    m = METHOD_ORDER.index(e.method) if e.method in METHOD_ORDER else len(METHOD_ORDER)
    return (norm_backbone(e.backbone), m, e.method, e.strength or 0.0, e.n_prompts or 0)


def metric_sort(key: str) -> tuple:
    base = key.split("/")[0]
    return (METRIC_ORDER.index(base) if base in METRIC_ORDER else len(METRIC_ORDER), key)


@dataclass
class Board:
    name: str
    columns: list[str]
    rows: list[Entry]  # reproduced rows, each followed by its matching paper rows
    published: list[Entry]  # paper rows with no reproduced match
    best: dict[str, float]


def fmt_value(v: float | None, key: str) -> str:
    if v is None:
        return ""
    if key.startswith("trainable_parameters"):
        return f"{v:,.0f}"
    if key.startswith("share_of"):
        return f"{v:.2%}"
    return f"{v:.1f}" if key.startswith("perplexity") else f"{v:.3f}"


def cell_text(m: dict[str, Any] | None, key: str) -> str:
    """``mean ± std [ci_low, ci_high]`` (parts only where known)."""
    if not m or m["mean"] is None:
        return ""
    s = fmt_value(m["mean"], key)
    if m.get("std") is not None:
        s += f" ± {fmt_value(m['std'], key)}"
    if m.get("ci_low") is not None:
        s += f" [{fmt_value(m['ci_low'], key)}, {fmt_value(m['ci_high'], key)}]"
    return s


def header(key: str, hib: bool | None) -> tuple[str, str]:
    """(metric with arrow, scorer / judge / prompt type) for a column key."""
    parts = key.split("/")
    arrow = "" if hib is None else (" ↑" if hib else " ↓")
    return parts[0].replace("_", " ") + arrow, " · ".join(parts[1:])


def row_label(e: Entry) -> list[str]:
    if e.is_paper:
        return [e.backbone, f"{e.method}" + (f" ({e.variant})" if e.variant else ""), "paper",
                "", ""]
    strength = "" if e.strength is None else f"{e.strength:g}"
    if e.chosen.startswith("validation"):
        strength += " (val.)"
    design = f"{e.n_prompts} × {e.samples}" if e.n_prompts is not None else ""
    return [e.backbone, e.method, strength, design, ",".join(map(str, e.seeds))]


LABELS = ["backbone", "method", "strength", "prompts × samples", "seeds"]


def higher_is_better(board: Board, key: str) -> bool | None:
    for e in board.rows + board.published:
        if key in e.metrics:
            return e.metrics[key]["higher_is_better"]
    return None
