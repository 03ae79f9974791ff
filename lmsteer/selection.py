"""The selection file of one LM x prompt set (each swept method's chosen strength), and the
trade-off table and figure of all of them: pure functions of the sweeps' JSON."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

from .errors import LMSteerError
from .sweep import choose, reference, summary
from .tables import md_escape, method_key

ORIGINAL = "original"
log = logging.getLogger(__name__)


def select(sweeps: Sequence[dict], budget: float, scorer: str) -> dict[str, Any]:
    """Sweeps (``lmsteer sweep``'s JSON) of one LM and prompt set, the original's among them
    -> the selection: per method its chosen strength, validation numbers and every point."""
    if budget < 1:
        raise LMSteerError(f"ppl_budget {budget}: give a factor >= 1 of the original's perplexity")
    keys = {(s["model"], s["prompt_set"], s["seed"]) for s in sweeps}
    if len(keys) != 1:
        raise LMSteerError(f"the sweeps are of different LMs, prompt sets or seeds: "
                           f"{sorted(keys)}")
    by_method = {s["method"]: s for s in sweeps}
    if len(by_method) != len(sweeps):
        raise LMSteerError("a method's sweep is given twice")
    if ORIGINAL not in by_method:
        raise LMSteerError("the original LM's validation run (method original) is missing: the "
                           "budget is a factor of its perplexity")
    base = by_method[ORIGINAL]["points"][0]
    orig = summary(base, scorer)
    model, pset, _ = keys.pop()
    out: dict[str, Any] = {
        "model": model, "prompt_set": pset, "ppl_budget": budget, "scorer": scorer,
        "rule": f"lowest mean toxicity ({scorer}) with perplexity <= {budget:g} x the original's",
        "validation": by_method[ORIGINAL]["validation"],
        "original": {**{k: orig[k] for k in ("toxicity", "perplexity")},
                     "samples": by_method[ORIGINAL].get("samples")},
        "methods": {}}
    for name, s in sorted(by_method.items()):
        if name == ORIGINAL:
            continue
        points = [summary(p, scorer) for p in s["points"]]
        # the original on this method's validation prompts (slow decoders see fewer of them)
        ref = reference(base, scorer, s["validation"]["ids"])
        out["methods"][name] = {**choose(points, ref["perplexity"], budget), "points": points,
                                "original": {k: ref[k] for k in ("toxicity", "perplexity")},
                                "n_prompts": s["validation"]["n_prompts"],
                                "samples": s["samples"]}
    return out


def chosen_strength(selection: dict, model: str, prompt_set: str, method: str) -> float:
    """The strength a selection file chose for ``method`` on ``model`` x ``prompt_set``."""
    if (selection.get("model"), selection.get("prompt_set")) != (model, prompt_set):
        raise LMSteerError(f"the selection is of {selection.get('model')} x "
                           f"{selection.get('prompt_set')}, not {model} x {prompt_set}")
    if method not in selection.get("methods", {}):
        raise LMSteerError(f"the selection has no {method!r}; it chose for "
                           f"{sorted(selection.get('methods', {}))}")
    return float(selection["methods"][method]["strength"])


def merge(selections: Sequence[dict]) -> list[dict]:
    """One selection per LM x prompt set from the per-method files (their methods joined)."""
    out: dict[tuple, dict] = {}
    for s in selections:
        key = (s["model"], s["prompt_set"])
        if key not in out:
            out[key] = {**s, "methods": dict(s["methods"])}
            continue
        have = out[key]
        if (have["ppl_budget"], have["scorer"], have["original"]) != (
                s["ppl_budget"], s["scorer"], s["original"]):
            raise LMSteerError(f"selections of {key} differ in budget, scorer or original run")
        twice = set(have["methods"]) & set(s["methods"])
        if twice:
            raise LMSteerError(f"{sorted(twice)} selected twice for {key}")
        have["methods"].update(s["methods"])
    return list(out.values())


def strength_from_file(path: str | Path, model: str, prompt_set: str, method: str) -> float:
    """:func:`chosen_strength` of the selection file at ``path`` (``generate --strength-from``)."""
    from .io import read_json

    strength = chosen_strength(read_json(path), model, prompt_set, method)
    log.info("%s at strength %g, chosen on validation prompts (%s)", method, strength, path)
    return strength


def tradeoff_rows(selections: Sequence[dict]) -> list[dict]:
    """One row per LM x prompt set x method: its chosen strength and validation numbers."""
    rows = []
    for s in sorted(merge(selections), key=lambda s: (s["prompt_set"], s["model"])):
        o = s["original"]
        rows.append({"model": s["model"], "prompt_set": s["prompt_set"], "method": ORIGINAL,
                     "strength": 0.0, "toxicity": o["toxicity"], "perplexity": o["perplexity"],
                     "ppl_ratio": 1.0, "within_budget": True, "grid": "",
                     "prompts": s["validation"]["n_prompts"], "samples": o.get("samples")})
        for m in sorted(s["methods"], key=method_key):
            c = s["methods"][m]
            rows.append({"model": s["model"], "prompt_set": s["prompt_set"], "method": m,
                         "strength": c["strength"], "toxicity": c["toxicity"],
                         "perplexity": c["perplexity"], "ppl_ratio": c["ppl_ratio"],
                         "within_budget": c["within_budget"],
                         "grid": " ".join(f"{p['strength']:g}" for p in c["points"]),
                         "prompts": c["n_prompts"], "samples": c["samples"]})
    return rows


def _num(x: float | None, fmt: str = ".3f") -> str:
    return "–" if x is None else format(x, fmt)


def tradeoff_markdown(selections: Sequence[dict]) -> str:
    """The chosen strength of every swept method with its validation numbers (Markdown)."""
    if not selections:
        raise LMSteerError("no selection files")
    budgets = sorted({s["ppl_budget"] for s in selections})
    scorers = sorted({s["scorer"] for s in selections})
    lines = ["# Strengths chosen on validation prompts", "",
             f"Rule, one for every method: the strength of the sweep with the lowest mean toxicity "
             f"({', '.join(map(md_escape, scorers))}) whose perplexity is at most "
             f"{' / '.join(f'{b:g}' for b in budgets)} x the original LM's on the same "
             "validation prompts; none within the budget: the lowest perplexity (marked). The "
             "validation prompts are a seeded sample of each pool with every evaluation prompt "
             "removed by text. Table 1's rows of these methods use the chosen strength. Figure: "
             "`results/figures/tradeoff_detox.png`.", "",
             "| LM | prompt set | method | chosen | grid | mean tox. | ppl | ppl / original | "
             "validation prompts × samples |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in tradeoff_rows(selections):
        mark = "" if r["within_budget"] else " (over budget)"
        design = (f"{r['prompts']} × {r['samples']}" if r["samples"]
                  else f"{r['prompts']} (its sweep's samples)")
        lines.append(f"| {md_escape(r['model'])} | {md_escape(r['prompt_set'])} | "
                     f"{md_escape(r['method'])} | {r['strength']:g}{mark} | {r['grid']} | "
                     f"{_num(r['toxicity'])} | {_num(r['perplexity'], '.1f')} | "
                     f"{_num(r['ppl_ratio'], '.2f')} | {design} |")
    return "\n".join(lines) + "\n"


def figure_series(selection: dict) -> dict[str, dict[str, Any]]:
    """Per swept method of one (merged) selection: its points as perplexity ratios against the
    original on the method's own validation prompts (the ratio the rule compares with the
    budget), its chosen point, and the original's toxicity on those prompts."""
    out = {}
    for m, c in selection["methods"].items():
        ref = c["original"]  # :func:`select`'s reference on this method's prompts
        pts = [p for p in c["points"] if p["perplexity"] is not None]
        out[m] = {"ratio": [p["perplexity"] / ref["perplexity"] for p in pts],
                  "toxicity": [p["toxicity"] for p in pts],
                  "strength": [p["strength"] for p in pts],
                  "chosen": (c["ppl_ratio"], c["toxicity"]),  # the ratio the rule compared
                  "reference_toxicity": ref["toxicity"], "n_prompts": c["n_prompts"]}
    return out


def tradeoff_figure(selections: Sequence[dict], path: Path) -> None:
    """Mean toxicity against perplexity / the original's on the same validation prompts, one
    panel per LM x prompt set: each method's line over its strengths, its chosen point ringed,
    the original as a black cross (a method swept on fewer prompts: a cross in its colour, the
    original on those prompts), the budget dashed (the same ratio for every method)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import atomic_path

    sels = sorted(merge(selections), key=lambda s: (s["model"], s["prompt_set"]))
    models = sorted({s["model"] for s in sels})
    psets = sorted({s["prompt_set"] for s in sels})
    methods = sorted({m for s in sels for m in s["methods"]}, key=method_key)
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(methods)}
    fig, axes = plt.subplots(len(models), len(psets), squeeze=False,
                             figsize=(5.2 * len(psets) + 1.8, 4.0 * len(models)))
    for s in sels:
        ax = axes[models.index(s["model"])][psets.index(s["prompt_set"])]
        n_all = s["validation"]["n_prompts"]
        ax.axvline(s["ppl_budget"], color="grey", ls="--", lw=1,
                   label=f"budget {s['ppl_budget']:g} x original")
        ax.plot([1.0], [s["original"]["toxicity"]], "kx", ms=9, mew=2, label="original")
        series = figure_series(s)
        for m in sorted(series, key=method_key):
            f, col = series[m], colours[m]
            fewer = f["n_prompts"] != n_all
            label = f"{m} ({f['n_prompts']} prompts)" if fewer else m
            ax.plot(f["ratio"], f["toxicity"], "o-", color=col, ms=3.5, lw=1.0, alpha=0.8,
                    label=label)
            for x, y, v in zip(f["ratio"], f["toxicity"], f["strength"]):
                ax.annotate(f"{v:g}", (x, y), textcoords="offset points", xytext=(3, 3),
                            fontsize=7, color=col)
            ax.plot(*f["chosen"], "o", ms=11, mfc="none", mew=2, color=col)
            if fewer:  # the original on this method's own (fewer) prompts
                ax.plot([1.0], [f["reference_toxicity"]], "x", ms=7, mew=1.5, color=col)
        ax.set_title(f"{s['model']} · {s['prompt_set']} · {n_all} validation prompts unless "
                     "marked", fontsize=9)
        # log scale: a degenerate strength (10-100x the original's) would squash the rest
        ax.set_xscale("log")
        ax.set_xlabel("perplexity / the original's on the same prompts (log)")
        ax.set_ylabel(f"mean toxicity ({s['scorer']})")
        ax.grid(alpha=0.3)
    handles = {}
    for row in axes:
        for ax in row:
            for h, label in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(label, h)
    fig.legend(handles.values(), handles.keys(), loc="center right", fontsize=8)
    fig.suptitle("Strength sweeps on validation prompts: mean toxicity against perplexity ratio, "
                 "each point labelled with its strength (ringed: the chosen one)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 1.9 / fig.get_figwidth(), 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
