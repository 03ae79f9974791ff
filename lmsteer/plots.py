"""Figures as pure functions of result records (matplotlib, Agg backend)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .io import atomic_path  # noqa: E402
from .tables import (METHOD_ORDER, SENTIMENT_PROMPTS, sentiment_scorers,  # noqa: E402
                     sentiment_sort_key, sentiment_target, toxicity_scorers)


def detox_figure(records: Sequence[dict], path: Path) -> None:
    """Bars of expected max / mean toxicity (95% CI) per backbone x prompt set, one bar per
    method that ran there (hatched: run on fewer prompts than the group's most)."""
    scorers = sorted({s for r in records for s in toxicity_scorers(r)})
    groups = sorted({(r["backbone"], r["prompt_set"]) for r in records})
    methods = sorted({r["method"] for r in records}, key=lambda m: (METHOD_ORDER.get(m, 50), m))
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(methods)}
    metrics = [("max_toxicity", "expected max toxicity"), ("mean_toxicity", "mean toxicity")]
    fig, axes = plt.subplots(len(metrics), len(scorers), squeeze=False,
                             figsize=(4.5 * len(scorers) + 2.2, 3.6 * len(metrics)))
    per_group = {g: [r for m in methods for r in records
                     if (r["backbone"], r["prompt_set"]) == g and r["method"] == m] for g in groups}
    width = 0.8 / max(len(v) for v in per_group.values())
    for (mkey, mlabel), row in zip(metrics, axes):
        for sc, ax in zip(scorers, row):
            top = 0.0  # highest CI end in the panel
            for x, g in enumerate(groups):
                recs = per_group[g]
                most = max(r["n_prompts"] for r in recs)
                for j, rec in enumerate(recs):
                    e = rec["metrics"].get(f"{mkey}/{sc}")
                    if not e:
                        continue
                    ax.bar(x + (j - (len(recs) - 1) / 2) * width, e["mean"], width,
                           yerr=[[e["mean"] - e["ci_low"]], [e["ci_high"] - e["mean"]]],
                           capsize=2, color=colours[rec["method"]],
                           hatch="//" if rec["n_prompts"] < most else None, edgecolor="white")
                    top = max(top, e["ci_high"])
            ax.set_xticks(range(len(groups)), [f"{b}\n{p}" for b, p in groups], fontsize=8)
            ax.set_ylabel(f"{mlabel} (0–1)")
            ax.set_title(f"{mlabel} — scorer: {sc}", fontsize=10)
            ax.set_ylim(0, 1 if mkey == "max_toxicity" else min(1.0, 1.15 * top + 0.02))
            ax.grid(axis="y", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[m]) for m in methods]
    handles.append(plt.Rectangle((0, 0), 1, 1, facecolor="grey", hatch="//", edgecolor="white"))
    fig.legend(handles, methods + ["fewer prompts"], title="method", fontsize=8,
               loc="center right")
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


_TARGET_COLOURS = {"negative": "#c0504d", "none": "#8c8c8c", "positive": "#4f9a4f"}


def sentiment_figure(records: Sequence[dict], path: Path) -> None:
    """Positivity % (95% CI) per prompt type, one panel per backbone x scorer, one bar per run
    (method and target); prompt types a run does not use are left empty, as in Table 2."""
    scorers = sorted({s for r in records for s in sentiment_scorers(r)})
    models = sorted({r["backbone"] for r in records})
    fig, axes = plt.subplots(len(scorers), len(models), squeeze=False,
                             figsize=(5 * len(models) + 1, 3.8 * len(scorers)))
    x = np.arange(len(SENTIMENT_PROMPTS))
    for sc, row in zip(scorers, axes):
        for model, ax in zip(models, row):
            runs = sorted((r for r in records if r["backbone"] == model),
                          key=sentiment_sort_key)
            width = 0.8 / max(len(runs), 1)
            for j, rec in enumerate(runs):
                means, errs = [], [[], []]
                for kind in SENTIMENT_PROMPTS:
                    e = rec["metrics"].get(f"positivity/{sc}/sentiment-{kind}")
                    m = 100 * e["mean"] if e else np.nan
                    means.append(m)
                    errs[0].append(m - 100 * e["ci_low"] if e else 0)
                    errs[1].append(100 * e["ci_high"] - m if e else 0)
                label = f"{rec['method']} ({sentiment_target(rec.get('strength'))}, " \
                        f"{rec.get('strength'):+g})"
                ax.bar(x + (j - (len(runs) - 1) / 2) * width, means, width, yerr=errs,
                       capsize=3, label=label,
                       color=_TARGET_COLOURS.get(sentiment_target(rec.get("strength"))))
            ax.set_xticks(x, [f"{k} prompts" for k in SENTIMENT_PROMPTS])
            ax.set_ylabel("% positive continuations")
            ax.set_ylim(0, 100)
            ax.set_title(f"{model} — scorer: {sc}", fontsize=10)
            ax.grid(axis="y", alpha=0.3)
            ax.legend(title="method (target, steer)", fontsize=7, loc="upper center",
                      bbox_to_anchor=(0.5, -0.12), ncol=3)
    n = sorted({f"{r['backbone']} {r['n_prompts'] // len(r['prompt_set'].split('+'))}"
                f"×{r['samples_per_prompt']}" for r in records})
    fig.suptitle("Sentiment control — bars: 95% bootstrap CI over prompts\n"
                 f"prompts×samples per prompt type: {', '.join(n)}", fontsize=10)
    _save(fig, path)
