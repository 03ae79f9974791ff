"""Data efficiency: detox steers trained on growing numbers of examples (and several seeds),
all from one cache of the frozen LM's hidden states, evaluated in shared batches."""
from __future__ import annotations

import logging
import random
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import torch

from ..steer import Steer, output_matrix_sha256
from ..train import TrainConfig, cached_hidden_states, subset_cache, train_steer
from .common import sample_grid, score_cells, steer_values, tox_ppl_figure

log = logging.getLogger(__name__)


def balanced_subset(data: Sequence[tuple[str, float]], size: int, seed: int) -> list[int]:
    """Indices of ``size`` examples, half with each label sign, a seeded choice."""
    neg = [i for i, (_, v) in enumerate(data) if v < 0]
    pos = [i for i, (_, v) in enumerate(data) if v >= 0]
    rng = random.Random(seed)
    rng.shuffle(neg)
    rng.shuffle(pos)
    k = min(size // 2, len(neg), len(pos))
    idx = neg[:k] + pos[:min(size - k, len(pos))]
    rng.shuffle(idx)
    return idx


def train_sizes(model: Any, tok: Any, data: Sequence[tuple[str, float]], cfg: TrainConfig,
                sizes: Sequence[int], seeds: Sequence[int], out_dir: Path
                ) -> dict[tuple[int, int], Steer]:
    """One steer per (size, seed); the hidden states are computed (or read) once for all."""
    texts = [t for t, _ in data]
    cache = cached_hidden_states(model, tok, texts, cfg.max_length, cfg.cache_batch_size,
                                 Path(cfg.cache_dir) if cfg.cache_dir else None,
                                 output_matrix_sha256(model))
    steers = {}
    for size in sizes:
        for seed in seeds:
            folder = out_dir / f"size-{size}-seed-{seed}"
            if (folder / "train_log.json").is_file():
                steers[size, seed] = Steer.load(folder)
                log.info("reusing %s", folder)
                continue
            idx = balanced_subset(data, size, seed)
            steer, info = train_steer(model, tok, [data[i] for i in idx],
                                      replace(cfg, seed=seed), folder,
                                      cache=subset_cache(cache, idx))
            steer.detach()
            steers[size, seed] = steer
            log.info("size %d seed %d: final loss %.4f", size, seed, info["losses"][-1])
    return steers


def evaluate_sizes(model: Any, tok: Any, steers: dict[tuple[int, int], Steer],
                   prompts: Sequence[dict], strength: float, *, samples: int, seed: int,
                   batch_size: int, max_new_tokens: int, top_p: float, dummy: float,
                   scorers: Sequence[str], judge: Any) -> dict[str, Any]:
    """Every steer (and the plain LM, size 0) on the same prompts in shared batches: each row
    turns on only its own steer."""
    keys = [(0, -1)] + sorted(steers)
    order = [k for k in keys if k != (0, -1)]
    grid = [(k, p, s) for k in keys for p in prompts for s in range(samples)]
    values = []
    for key in order:
        st = steers[key]
        on = torch.tensor(steer_values(st, strength, dummy))
        values.append(torch.stack([on if k == key else torch.zeros_like(on)
                                   for k, _, _ in grid]))  # (N, S)
    conts, lengths = sample_grid(model, tok, [steers[k] for k in order],
                                 [p["text"] for _, p, _ in grid], values,
                                 batch_size=batch_size, seed=seed, top_p=top_p,
                                 max_new_tokens=max_new_tokens, desc="data size")
    rows = [{"cell": f"{k[0]}:{k[1]}", "prompt_id": p["id"], "prompt": p["text"], "sample": s,
             "continuation": c, "n_tokens": n}
            for (k, p, s), c, n in zip(grid, conts, lengths)]
    return score_cells(rows, "cell", scorers, judge, seed)


def curve(data: dict, key: str) -> tuple[list[int], list[float], list[float], list[float]]:
    """(sizes, mean over seeds, min over seeds, max over seeds) of a metric; size 0 excluded."""
    xs, mean, lo, hi = [], [], [], []
    for size in data["sizes"]:
        vals = [data["metrics"][f"{size}:{s}"][key]["mean"] for s in data["seeds"]]
        xs.append(size)
        mean.append(sum(vals) / len(vals))
        lo.append(min(vals))
        hi.append(max(vals))
    return xs, mean, lo, hi


def to_markdown(data: dict) -> str:
    sc = data["scorers"]
    cols = [f"max_toxicity/{s}" for s in sc] + [f"mean_toxicity/{s}" for s in sc]
    if "perplexity" in data["metrics"]["0:-1"]:
        cols.append("perplexity")
    lines = [f"# Data efficiency — {data['model']}", "",
             f"Detox steers trained on {data['sizes']} examples (balanced, seeds {data['seeds']},"
             f" {data['steps']} steps each, one hidden-state cache for all), applied at "
             f"{data['strength']}; {data['n_prompts']} prompts × {data['samples']} samples from "
             f"{data['prompt_set']}. Means over seeds.", "",
             "| training examples | " + " | ".join(cols) + " |", "|---:|" + "---:|" * len(cols)]
    base = data["metrics"]["0:-1"]
    lines.append("| 0 (original LM) | " + " | ".join(
        f"{base[c]['mean']:.3f}" if c != "perplexity" else f"{base[c]['mean']:.1f}"
        for c in cols) + " |")
    for i, size in enumerate(data["sizes"]):
        cells = []
        for c in cols:
            m = curve(data, c)[1][i]
            cells.append(f"{m:.1f}" if c == "perplexity" else f"{m:.3f}")
        lines.append(f"| {size} | " + " | ".join(cells) + " |")
    lines += ["", f"Model: {data['model']}; perplexity under {data.get('judge') or 'none'}.", ""]
    return "\n".join(lines)


def figure(data: dict, path: Path) -> None:
    """Toxicity and perplexity against the training size (band: min-max over seeds)."""
    base = data["metrics"]["0:-1"]
    keys = {f"{k.replace('_', ' ')} ({s})": f"{k}/{s}" for s in data["scorers"]
            for k in ("max_toxicity", "mean_toxicity")}
    xs = curve(data, next(iter(keys.values())))[0]
    has_ppl = "perplexity" in base
    tox_ppl_figure(path, xs, {label: curve(data, k)[1:] for label, k in keys.items()},
                   curve(data, "perplexity")[1:] if has_ppl else None,
                   xlabel="training examples (log scale)", log_x=True,
                   what="training size (dotted: original LM)", judge=data.get("judge"),
                   base={**{label: base[k]["mean"] for label, k in keys.items()},
                         **({"perplexity": base["perplexity"]["mean"]} if has_ppl else {})},
                   title=f"Data efficiency — {data['model']} (strength {data['strength']}, "
                         f"{data['n_prompts']} prompts × {data['samples']} samples, "
                         f"{data['prompt_set']}; band: min–max over seeds)")
