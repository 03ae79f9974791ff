"""Continuous steering: one steer swept over values (e.g. -5eps ... +5eps), all values sampled
in the same batches with per-sample steer values."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import torch

from ..scoring import get_scorer
from ..steer import Steer
from .common import mean_of, sample_grid, score_cells, steer_values, tox_ppl_figure

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
    vals = [float(v) for v in data["values"]]
    ms = [data["metrics"][str(v)] for v in vals]

    def band(key: str) -> tuple[list, list, list]:
        return ([m[key]["mean"] for m in ms], [m[key]["ci_low"] for m in ms],
                [m[key]["ci_high"] for m in ms])

    tox = {f"{k.replace('_', ' ')} ({s})": band(f"{k}/{s}") for s in data["scorers"]
           for k in ("max_toxicity", "mean_toxicity")}
    tox_ppl_figure(path, vals, tox, band("perplexity") if ms[0].get("perplexity") else None,
                   xlabel="steer value (units of ε; + = less toxic)", judge=data.get("judge"),
                   what="steer value (95% CI)",
                   title=f"Continuous steering — {data['model']} ({data['n_prompts']} prompts × "
                         f"{data['samples']} samples per value, {data['prompt_set']})")
