"""Figures as pure functions of result records (matplotlib, Agg backend)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .data import SENTIMENT_TARGETS  # noqa: E402
from .io import atomic_path  # noqa: E402
from .tables import (fewer_prompts, method_key, sentiment_scorers,  # noqa: E402
                     sentiment_sort_key, sentiment_target, toxicity_scorers)


def detox_figure(records: Sequence[dict], path: Path) -> None:
    """Bars of expected max / mean toxicity (95% CI) per backbone x prompt set, one bar per
    method that ran there (hatched: run on fewer prompts than the group's most)."""
    scorers = sorted({s for r in records for s in toxicity_scorers(r)})
    groups = sorted({(r["backbone"], r["prompt_set"]) for r in records})
    methods = sorted({r["method"] for r in records}, key=method_key)
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(methods)}
    metrics = [("max_toxicity", "expected max toxicity"), ("mean_toxicity", "mean toxicity")]
    fig, axes = plt.subplots(len(metrics), len(scorers), squeeze=False,
                             figsize=(4.5 * len(scorers) + 2.2, 3.6 * len(metrics)))
    few = fewer_prompts(records)
    per_group = {g: [(r, f) for m in methods for r, f in zip(records, few)
                     if (r["backbone"], r["prompt_set"]) == g and r["method"] == m]
                 for g in groups}
    width = 0.8 / max(len(v) for v in per_group.values())
    for (mkey, mlabel), row in zip(metrics, axes):
        for sc, ax in zip(scorers, row):
            top = 0.0  # highest CI end in the panel
            for x, g in enumerate(groups):
                recs = per_group[g]
                for j, (rec, subset) in enumerate(recs):
                    e = rec["metrics"].get(f"{mkey}/{sc}")
                    if not e:
                        continue
                    ax.bar(x + (j - (len(recs) - 1) / 2) * width, e["mean"], width,
                           yerr=[[e["mean"] - e["ci_low"]], [e["ci_high"] - e["mean"]]],
                           capsize=2, color=colours[rec["method"]],
                           hatch="//" if subset else None, edgecolor="white")
                    top = max(top, e["ci_high"])
            ax.set_xticks(range(len(groups)), [f"{b}\n{p}" for b, p in groups], fontsize=8)
            ax.set_ylabel(f"{mlabel} (0–1)")
            ax.set_title(f"{mlabel} — scorer: {sc}", fontsize=10)
            ax.set_ylim(0, 1 if mkey == "max_toxicity" else min(1.0, 1.15 * top + 0.02))
            ax.grid(axis="y", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[m]) for m in methods]
    labels = list(methods)
    if any(few):  # the hatch's key only where a bar is hatched
        handles.append(plt.Rectangle((0, 0), 1, 1, facecolor="grey", hatch="//",
                                     edgecolor="white"))
        labels.append("fewer prompts")
    fig.legend(handles, labels, title="method", fontsize=8, loc="center right")
    n = sorted({f"{r['n_prompts']}×{r['samples_per_prompt']}" for r in records})
    models = ", ".join(sorted({r["backbone"] for r in records}))
    fig.suptitle(f"Detoxification: {models}\n(bars: 95% bootstrap CI over prompts; prompts×"
                 f"samples {', '.join(n)}, each bar's in Table 1)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 1.9 / fig.get_figwidth(), 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def _save(fig: plt.Figure, path: Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


_KIND_STYLE = {"positive": ("#4f9a4f", "^"), "neutral": ("#5b6fb5", "o"),
               "negative": ("#c0504d", "v")}  # prompt type -> colour, marker


def _per_type(rec: dict) -> int:
    """Prompts per prompt type of a sentiment record (its prompt_set joins the types by +)."""
    return rec["n_prompts"] // len(rec["prompt_set"].split("+"))


def _sentiment_panel(ax: plt.Axes, runs: Sequence[dict], baseline: dict | None, sc: str,
                     kinds: Sequence[str]) -> None:
    """One target: a row per method (the original on top), % positive per prompt type in
    ``kinds`` with its 95% CI; dashed lines: the original LM on the same prompts."""
    rows = ([baseline] if baseline else []) + list(runs)
    for y, rec in enumerate(rows):
        for k, kind in enumerate(kinds):
            e = rec["metrics"].get(f"positivity/{sc}/sentiment-{kind}")
            if not e:
                continue
            colour, marker = _KIND_STYLE[kind]
            m = 100 * e["mean"]
            ax.errorbar(m, y + (k - (len(kinds) - 1) / 2) * 0.22,
                        xerr=[[m - 100 * e["ci_low"]], [100 * e["ci_high"] - m]], fmt=marker,
                        color=colour, ms=6, capsize=2, lw=1.2,
                        label=f"{kind} prompts" if y == 0 else None)
            if rec is baseline:
                ax.axvline(m, color=colour, ls="--", lw=0.8, alpha=0.6)
    per_type = [_per_type(r) for r in rows]
    ax.set_yticks(range(len(rows)), [
        f"{r['method']} ({r.get('strength') or 0:+g})"
        + (f"\n{n} prompt{'s' * (n != 1)}/type" if n < max(per_type) else "")
        for r, n in zip(rows, per_type)], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% positive continuations")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
              frameon=False)


def sentiment_figure(records: Sequence[dict], path: Path) -> None:
    """Write :func:`sentiment_plot` of ``records`` to ``path`` (PNG)."""
    _save(sentiment_plot(records), path)


def sentiment_plot(records: Sequence[dict]) -> plt.Figure:
    """Table 2 as dot plots: per backbone x scorer, one panel per target (towards negative /
    positive), a row per method with % positive (95% CI) on the prompt types that target uses,
    the original LM on top and as dashed reference lines."""
    scorers = sorted({s for r in records for s in sentiment_scorers(r)})
    models = sorted({r["backbone"] for r in records})
    targets = [(t, SENTIMENT_TARGETS[t]) for t in ("negative", "positive")]
    panels = [(m, sc) for m in models for sc in scorers]
    n_rows = max((sum(1 for r in records if r["backbone"] == m) // 2 + 2 for m in models),
                 default=3)
    fig, axes = plt.subplots(len(panels), 2, squeeze=False,
                             figsize=(12, (0.42 * n_rows + 1.8) * len(panels)))
    for (model, sc), row in zip(panels, axes):
        own = sorted((r for r in records if r["backbone"] == model), key=sentiment_sort_key)
        base = next((r for r in own if sentiment_target(r.get("strength")) == "none"), None)
        for (target, kinds), ax in zip(targets, row):
            runs = [r for r in own if sentiment_target(r.get("strength")) == target]
            _sentiment_panel(ax, runs, base, sc, kinds)
            arrow = "lower is better" if target == "negative" else "higher is better"
            ax.set_title(f"{model} — towards {target} ({arrow}) — scorer: {sc}", fontsize=10)
    n = sorted({f"{r['backbone']} {_per_type(r)}×{r['samples_per_prompt']}" for r in records})
    fig.suptitle("Sentiment control (Table 2) — whiskers: 95% bootstrap CI over prompts\n"
                 f"prompts×samples per prompt type: {', '.join(n)}", fontsize=10)
    return fig
