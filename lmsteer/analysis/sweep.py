"""Continuous steering: one steer swept over values (e.g. -5eps ... +5eps), all values sampled
in the same batches with per-sample steer values."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import torch

from ..scoring import get_scorer
from ..steer import Steer
from .common import (mean_of, plain_log_axis, sample_grid, save_figure, score_cells,
                     steer_values)

WORD = re.compile(r"[A-Za-z][A-Za-z']+")


def sweep_rows(model: Any, tok: Any, steer: Steer, prompts: Sequence[dict],
               values: Sequence[float], *, samples: int, seed: int, batch_size: int,
               max_new_tokens: int, top_p: float, dummy: float = 0.0,
               greedy: bool = False) -> list[dict]:
    """``samples`` continuations of every prompt at every value, in shared batches."""
    grid = [(v, p, s) for v in values for p in prompts for s in range(samples)]
    vals = torch.tensor([steer_values(steer, v, dummy) for v, _, _ in grid])  # (N, S)
    conts, lengths = sample_grid(model, tok, [steer], [p["text"] for _, p, _ in grid], [vals],
                                 batch_size=batch_size, seed=seed, top_p=top_p, greedy=greedy,
                                 max_new_tokens=max_new_tokens, desc="sweep")
    return [{"value": float(v), "prompt_id": p["id"], "prompt": p["text"], "sample": s,
             "prompt_set": p.get("set", ""), "continuation": c, "n_tokens": n}
            for (v, p, s), c, n in zip(grid, conts, lengths)]


def toxic_word_counts(texts: Sequence[str], threshold: float = 0.5) -> list[int]:
    """Words per text that profanity-check flags on their own (the toxic phrase count)."""
    words = [WORD.findall(t) for t in texts]
    vocab = sorted({w.lower() for ws in words for w in ws})
    if not vocab:
        return [0] * len(texts)
    flagged = {w for w, p in zip(vocab, get_scorer("profanity-check").score(vocab))
               if p >= threshold}
    return [sum(w.lower() in flagged for w in ws) for ws in words]


def summarise(rows: Sequence[dict], scorers: Sequence[str], judge: Any, seed: int,
              showcase_id: Any) -> dict[str, Any]:
    """Metrics per value, and the showcase prompt's first continuation per value."""
    metrics = score_cells(rows, "value", scorers, judge, seed)
    show = [r for r in rows if r["prompt_id"] == showcase_id]
    counts = toxic_word_counts([r["continuation"] for r in show])
    by_value: dict[float, dict] = {}
    for r, c in zip(show, counts):
        cell = by_value.setdefault(r["value"], {"value": r["value"], "continuation": None,
                                                "toxic_words": 0, "samples": 0})
        if r["sample"] == 0:
            cell["continuation"] = r["continuation"]
        cell["toxic_words"] += c
        cell["samples"] += 1
    return {"metrics": {str(k): v for k, v in metrics.items()},
            "showcase": {"prompt": show[0]["prompt"] if show else "",
                         "rows": [by_value[v] for v in sorted(by_value)]}}


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def to_markdown(data: dict) -> str:
    """(a) the showcase table and (b) the metrics per value, as markdown."""
    sc = data["scorers"]
    lines = [f"# Continuous steering — {data['model']}", "",
             f"Steer `{data['steer']}` swept over values {data['values']} (units of ε = "
             f"{data['epsilon']}); {data['n_prompts']} prompts × {data['samples']} samples per "
             f"value from {data['prompt_set']}, all values in the same batches.", "",
             f"## (a) One prompt at each value: \"{_md_escape(data['showcase']['prompt'])}\"",
             "", "| value (×ε) | continuation (sample 0) | toxic words in all samples |",
             "|---:|---|---:|"]
    for r in data["showcase"]["rows"]:
        lines.append(f"| {r['value']:+g} | {_md_escape(r['continuation'] or '')} | "
                     f"{r['toxic_words']} / {r['samples']} samples |")
    lines += ["", "Toxic words: words that profanity-check flags on their own.", "",
              "## (b) Toxicity and perplexity per value", "",
              "| value (×ε) | " + " | ".join(f"exp. max tox. ({s}) | mean tox. ({s})" for s in sc)
              + " | perplexity |", "|---:|" + "---:|" * (2 * len(sc) + 1)]
    for v in data["values"]:
        m = data["metrics"][str(float(v))]
        cells = [f"{mean_of(m, f'{k}/{s}'):.3f}" for s in sc
                 for k in ("max_toxicity", "mean_toxicity")]
        ppl = mean_of(m, "perplexity")
        cells.append(f"{ppl:.1f}" if ppl is not None else "–")
        lines.append(f"| {v:+g} | " + " | ".join(cells) + " |")
    judge = data.get("judge") or "none"
    lines += ["", f"Perplexity: conditional, under {judge}. Model: {data['model']}.", ""]
    return "\n".join(lines)


def figure(data: dict, path: Path) -> None:
    """Toxicity (each scorer, 95% CI) and perplexity against the steer value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vals = [float(v) for v in data["values"]]
    ms = [data["metrics"][str(v)] for v in vals]
    has_ppl = ms[0].get("perplexity") is not None
    fig, axes = plt.subplots(1, 2 if has_ppl else 1, figsize=(11 if has_ppl else 6, 4),
                             squeeze=False)
    ax = axes[0][0]
    for s in data["scorers"]:
        for key, style in (("max_toxicity", "-o"), ("mean_toxicity", "--s")):
            e = [m[f"{key}/{s}"] for m in ms]
            line, = ax.plot(vals, [x["mean"] for x in e], style, label=f"{key.replace('_', ' ')}"
                            f" ({s})", markersize=4)
            ax.fill_between(vals, [x["ci_low"] for x in e], [x["ci_high"] for x in e],
                            color=line.get_color(), alpha=0.15)
    ax.set_xlabel("steer value (units of ε; + = less toxic)")
    ax.set_ylabel("toxicity (0–1)")
    ax.set_title("toxicity vs. steer value (95% CI)", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    if has_ppl:
        ax = axes[0][1]
        e = [m["perplexity"] for m in ms]
        ax.plot(vals, [x["mean"] for x in e], "-o", color="tab:purple", markersize=4)
        ax.fill_between(vals, [x["ci_low"] for x in e], [x["ci_high"] for x in e],
                        color="tab:purple", alpha=0.15)
        ax.set_yscale("log")
        plain_log_axis(ax.yaxis)
        ax.set_xlabel("steer value (units of ε)")
        ax.set_ylabel(f"conditional perplexity under {data['judge']} (log)")
        ax.set_title("fluency vs. steer value (95% CI)", fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Continuous steering — {data['model']} ({data['n_prompts']} prompts × "
                 f"{data['samples']} samples per value, {data['prompt_set']})", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
