"""Figures as pure functions of result records (matplotlib, Agg backend)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .io import atomic_path  # noqa: E402
from .tables import METHOD_ORDER, toxicity_scorers  # noqa: E402


def detox_figure(records: Sequence[dict], path: Path) -> None:
    """Bars of expected max / mean toxicity (95% CI) per backbone x prompt set, one bar per method."""
    scorers = sorted({s for r in records for s in toxicity_scorers(r)})
    groups = sorted({(r["backbone"], r["prompt_set"]) for r in records})
    methods = sorted({r["method"] for r in records}, key=lambda m: (METHOD_ORDER.get(m, 50), m))
    metrics = [("max_toxicity", "expected max toxicity"), ("mean_toxicity", "mean toxicity")]
    fig, axes = plt.subplots(len(metrics), len(scorers), squeeze=False,
                             figsize=(4.5 * len(scorers) + 1, 3.6 * len(metrics)))
    width = 0.8 / max(len(methods), 1)
    x = np.arange(len(groups))
    for (mkey, mlabel), row in zip(metrics, axes):
        for sc, ax in zip(scorers, row):
            for j, meth in enumerate(methods):
                means, errs = [], [[], []]
                for g in groups:
                    rec = next((r for r in records if (r["backbone"], r["prompt_set"]) == g
                                and r["method"] == meth), None)
                    e = rec["metrics"].get(f"{mkey}/{sc}") if rec else None
                    m = e["mean"] if e else np.nan
                    means.append(m)
                    errs[0].append(m - e["ci_low"] if e else 0)
                    errs[1].append(e["ci_high"] - m if e else 0)
                ax.bar(x + (j - (len(methods) - 1) / 2) * width, means, width, yerr=errs,
                       capsize=3, label=meth)
            ax.set_xticks(x, [f"{b}\n{p}" for b, p in groups], fontsize=8)
            ax.set_ylabel(f"{mlabel} (0–1)")
            ax.set_title(f"{mlabel} — scorer: {sc}", fontsize=10)
            ax.set_ylim(0, 1)
            ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(title="method", fontsize=8)
    n = sorted({f"{r['backbone']}: {r['n_prompts']}×{r['samples_per_prompt']}" for r in records})
    models = ", ".join(sorted({r["backbone"] for r in records}))
    fig.suptitle(f"Detoxification: {models}\n(bars: 95% bootstrap CI over prompts; "
                 f"prompts×samples {', '.join(n)})", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
