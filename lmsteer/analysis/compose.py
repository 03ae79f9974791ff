"""Compositional steering: two steers at once (``eps1 W1 + eps2 W2``) on a grid of values;
heatmaps of toxicity and of positivity over the grid."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..steer import Steer
from .common import mean_of, sample_grid, save_figure, score_cells, steer_values


def compose_rows(model: Any, tok: Any, steers: tuple[Steer, Steer], prompts: Sequence[dict],
                 grid: tuple[Sequence[float], Sequence[float]], *, samples: int, seed: int,
                 batch_size: int, max_new_tokens: int, top_p: float,
                 dummy: float = 0.0) -> list[dict]:
    """Continuations at every (value 1, value 2) cell, all cells in shared batches."""
    cells = [(a, b, p, s) for a in grid[0] for b in grid[1] for p in prompts
             for s in range(samples)]
    v1 = torch.tensor([steer_values(steers[0], a, dummy) for a, _, _, _ in cells])  # (N, S1)
    v2 = torch.tensor([steer_values(steers[1], b, dummy) for _, b, _, _ in cells])  # (N, S2)
    conts, lengths = sample_grid(model, tok, list(steers), [p["text"] for _, _, p, _ in cells],
                                 [v1, v2], batch_size=batch_size, seed=seed, top_p=top_p,
                                 max_new_tokens=max_new_tokens, desc="compose")
    return [{"cell": f"{float(a):g},{float(b):g}", "value1": float(a), "value2": float(b),
             "prompt_id": p["id"], "prompt": p["text"], "sample": s, "continuation": c,
             "n_tokens": n} for (a, b, p, s), c, n in zip(cells, conts, lengths)]


def grids(data: dict) -> dict[str, np.ndarray]:
    """metric name -> (len(values1), len(values2)) array of cell means."""
    out: dict[str, np.ndarray] = {}
    for key in data["heatmaps"]:
        arr = np.full((len(data["values1"]), len(data["values2"])), np.nan)
        for i, a in enumerate(data["values1"]):
            for j, b in enumerate(data["values2"]):
                v = mean_of(data["metrics"][f"{float(a):g},{float(b):g}"], key)
                arr[i, j] = np.nan if v is None else v
        out[key] = arr
    return out


def summarise(rows: Sequence[dict], scorers: Sequence[str], seed: int) -> dict[str, Any]:
    return {"metrics": score_cells(rows, "cell", scorers, None, seed)}


def to_markdown(data: dict) -> str:
    lines = [f"# Compositional steering — {data['model']}", "",
             f"Steer 1 = `{data['steer1']}` ({data['name1']}), steer 2 = `{data['steer2']}` "
             f"({data['name2']}), applied together as ε1·W1 + ε2·W2; {data['n_prompts']} "
             f"prompts × {data['samples']} samples per cell from {data['prompt_set']}.", ""]
    for key, arr in grids(data).items():
        lines += [f"## {key}", "", f"| {data['name1']} \\ {data['name2']} | "
                  + " | ".join(f"{b:+g}" for b in data["values2"]) + " |",
                  "|---:|" + "---:|" * len(data["values2"])]
        for a, row in zip(data["values1"], arr):
            lines.append(f"| {a:+g} | " + " | ".join(f"{x:.3f}" for x in row) + " |")
        lines.append("")
    lines.append(f"Model: {data['model']}. Values in units of ε.")
    return "\n".join(lines) + "\n"


def figure(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arrs = grids(data)
    fig, axes = plt.subplots(1, len(arrs), figsize=(5.2 * len(arrs), 4.4), squeeze=False)
    for ax, (key, arr) in zip(axes[0], arrs.items()):
        cmap = "Reds" if "toxicity" in key else "Greens"
        im = ax.imshow(arr, origin="lower", cmap=cmap, aspect="auto")
        lo, hi = np.nanmin(arr), np.nanmax(arr)
        for i in range(arr.shape[0]):
            for j in range(arr.shape[1]):
                dark = hi > lo and (arr[i, j] - lo) / (hi - lo) > 0.6
                ax.text(j, i, f"{arr[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")
        ax.set_xticks(range(len(data["values2"])), [f"{b:+g}" for b in data["values2"]])
        ax.set_yticks(range(len(data["values1"])), [f"{a:+g}" for a in data["values1"]])
        ax.set_xlabel(f"{data['name2']} steer value (units of ε)")
        ax.set_ylabel(f"{data['name1']} steer value (units of ε)")
        ax.set_title(key.replace("/", " — "), fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, label="mean over prompts (0–1)")
    fig.suptitle(f"Compositional steering — {data['model']} ({data['n_prompts']} prompts × "
                 f"{data['samples']} samples per cell, {data['prompt_set']})", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
