"""Holistic comparison: toxicity against perplexity for every method x backbone with results
(a pure function of the detox records), LM-Steer marked."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..tables import fewer_prompts, method_key, toxicity_scorers
from .common import plain_log_axis, save_figure


def points(records: Sequence[dict], scorer: str | None = None) -> list[dict[str, Any]]:
    """One point per detox record that has perplexity and the scorer's expected max toxicity."""
    out = []
    for r in records:
        sc = scorer or (toxicity_scorers(r) or [None])[0]
        tox, ppl = r["metrics"].get(f"max_toxicity/{sc}"), r["metrics"].get("perplexity")
        if r.get("task") != "detox" or not tox or not ppl:
            continue
        out.append({"method": r["method"], "backbone": r["backbone"],
                    "prompt_set": r["prompt_set"], "n_prompts": r["n_prompts"], "scorer": sc,
                    "max_toxicity": tox["mean"], "tox_ci": [tox["ci_low"], tox["ci_high"]],
                    "perplexity": ppl["mean"], "ppl_ci": [ppl["ci_low"], ppl["ci_high"]],
                    "judge": ppl.get("scorer", "")})
    return sorted(out, key=lambda p: (p["prompt_set"], p["backbone"], *method_key(p["method"])))


def to_markdown(pts: Sequence[dict]) -> str:
    lines = ["# Holistic comparison: toxicity vs. perplexity", "",
             "Every method × backbone with a detox record; lower-left is better. Perplexity is "
             "conditional, under the judge named per row.", "",
             "| prompt set | backbone | method | prompts | exp. max toxicity | scorer | "
             "perplexity | judge |", "|---|---|---|---:|---:|---|---:|---|"]
    for p in pts:
        lines.append(f"| {p['prompt_set']} | {p['backbone']} | {p['method']} | {p['n_prompts']} "
                     f"| {p['max_toxicity']:.3f} | {p['scorer']} | {p['perplexity']:.1f} | "
                     f"{p['judge']} |")
    return "\n".join(lines) + "\n"


def figure(pts: Sequence[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = sorted({p["prompt_set"] for p in pts})
    methods = sorted({p["method"] for p in pts}, key=method_key)
    backbones = sorted({p["backbone"] for p in pts})
    others = [m for m in methods if m != "lm_steer"]
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(others)}
    colours["lm_steer"] = "gold"
    shapes = dict(zip(backbones, "os^Dv<>"))
    fig, axes = plt.subplots(1, max(1, len(sets)), figsize=(6 * max(1, len(sets)) + 2, 4.6),
                             squeeze=False)
    few = fewer_prompts(pts)  # drawn hollow with their n
    for ax, ps in zip(axes[0], sets):
        for p, subset in ((q, f) for q, f in zip(pts, few) if q["prompt_set"] == ps):
            star = p["method"] == "lm_steer"
            x, y = p["perplexity"], p["max_toxicity"]
            ax.errorbar(x, y, xerr=[[x - p["ppl_ci"][0]], [p["ppl_ci"][1] - x]],
                        yerr=[[y - p["tox_ci"][0]], [p["tox_ci"][1] - y]], fmt="none",
                        ecolor=colours[p["method"]], alpha=0.4, lw=0.8)
            c = colours[p["method"]]
            ax.scatter(x, y, s=220 if star else 60, marker="*" if star else shapes[p["backbone"]],
                       facecolor="none" if subset else c,
                       edgecolor=c if subset else ("black" if star else "none"),
                       linewidths=1.5 if subset else 1.0, zorder=3)
            label = p["backbone"].split("-")[0] + (f" (n={p['n_prompts']})" if subset else "")
            ax.annotate(label, (x, y), fontsize=6, xytext=(4, 3), textcoords="offset points")
        ax.set_xscale("log")
        plain_log_axis(ax.xaxis)
        ax.set_xlabel("conditional perplexity (log; lower = more fluent)")
        ax.set_ylabel(f"expected max toxicity ({pts[0]['scorer']}, 0–1)")
        ax.set_title(f"prompt set: {ps}", fontsize=10)
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], marker="*" if m == "lm_steer" else "o", ls="",
                          color=colours[m], markeredgecolor="black" if m == "lm_steer" else
                          "none", markersize=12 if m == "lm_steer" else 6, label=m)
               for m in methods]
    handles += [plt.Line2D([], [], marker=shapes[b], ls="", color="grey", label=b)
                for b in backbones]
    if any(few):
        handles.append(plt.Line2D([], [], marker="o", ls="", markerfacecolor="none",
                                  markeredgecolor="grey", label="fewer prompts (n)"))
    fig.legend(handles=handles, fontsize=7, loc="center right")
    fig.suptitle("Holistic comparison: toxicity vs. fluency, every method × backbone "
                 "(bars: 95% CI)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 1.9 / fig.get_figwidth(), 1))
    save_figure(fig, path)
