"""Shared pieces of the analyses: several steers applied at once with per-sample values,
batched sampling over (prompt x value) grids, grid scoring and output files."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from ..defaults import GENERATION
from ..evaluate import evaluate
from ..generate import sample_batch
from ..io import atomic_path, atomic_write_text, write_json
from ..results import provenance
from ..steer import Steer

log = logging.getLogger(__name__)


class SteerSumHead(nn.Module):
    """Output module applying ``sum_k eps_k W_k`` of several steers: ``c + sum_k delta_k(c)``.

    ``values[k]`` holds steer k's values per sample, shape (B, S_k); set it before each batch.
    """

    def __init__(self, base: nn.Module, steers: Sequence[Steer]) -> None:
        super().__init__()
        self.base = base
        object.__setattr__(self, "_steers", list(steers))  # not submodules: frozen here
        self.values: list[torch.Tensor] = []

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:  # hidden (B, T, d)
        out = hidden
        for steer, vals in zip(self._steers, self.values):
            out = out + steer.delta(hidden, vals.to(hidden.device))  # (B, T, d)
        return self.base(out)


@torch.no_grad()
def sample_grid(model: nn.Module, tok: Any, steers: Sequence[Steer], texts: Sequence[str],
                values: Sequence[torch.Tensor], *, batch_size: int, seed: int,
                max_new_tokens: int, top_p: float = GENERATION.top_p, greedy: bool = False,
                desc: str = "sample") -> tuple[list[str], list[int]]:
    """Continue ``texts`` with every steer at its own per-text values (``values[k]``: (N, S_k)).

    One batch may mix any values, so a whole sweep or grid runs in full batches. Each batch's
    seed depends on ``seed`` and its first row only, as in :func:`lmsteer.generate.generate`.
    """
    for steer, v in zip(steers, values):
        steer.check_fits(model)
        if v.shape != (len(texts), steer.config.num_steers):
            raise ValueError(f"values of shape {tuple(v.shape)}, expected "
                             f"({len(texts)}, {steer.config.num_steers})")
    head = model.get_output_embeddings()
    wrapper = SteerSumHead(head, steers)
    model.set_output_embeddings(wrapper)
    conts: list[str] = []
    lengths: list[int] = []
    try:
        for start in tqdm(range(0, len(texts), batch_size), desc=desc, unit="batch"):
            stop = start + batch_size
            wrapper.values = [v[start:stop] for v in values]
            c, n = sample_batch(model, tok, texts[start:stop], max_new_tokens=max_new_tokens,
                                top_p=top_p, seed=seed * 1_000_003 + start, greedy=greedy)
            conts += c
            lengths += n
    finally:
        model.set_output_embeddings(head)
    return conts, lengths


def steer_values(steer: Steer, value: float, dummy: float = 0.0) -> list[float]:
    """Steer 0 at ``value``, any further (always-on) steers at ``dummy``."""
    return [float(value)] + [float(dummy)] * (steer.config.num_steers - 1)


def score_cells(rows: Sequence[dict], key: str, scorers: Sequence[str],
                judge: tuple[str, Any, Any] | None, seed: int) -> dict[Any, dict]:
    """Metrics of each cell (rows sharing ``row[key]``), computed as for a Table 1 record."""
    cells: dict[Any, list[dict]] = {}
    for r in rows:
        cells.setdefault(r[key], []).append(r)
    out = {}
    for k, part in tqdm(cells.items(), desc="score cells", unit="cell"):
        metrics, _, _ = evaluate(part, scorers, judge, seed)
        out[k] = metrics
    return out


def header(analysis: str, start: str, **fields: Any) -> dict[str, Any]:
    """The common head of every analysis JSON: what ran, on what, and provenance; a steer
    folder given as a field (``steer``, ...) is named with the hash of its tensors
    (``<field>_sha256``), which the committed LM-Steer records also carry."""
    from ..methods import artifact_sha256

    hashes = {f"{k}_sha256": artifact_sha256(v) for k, v in fields.items()
              if k.startswith("steer") and isinstance(v, str) and Path(v).is_dir()}
    return {"schema_version": 1, "analysis": analysis, **fields, **hashes,
            "provenance": provenance(start)}


def write_outputs(stem: Path, data: dict, markdown: str | None = None) -> None:
    """``stem.json`` (+ ``stem.md``) written atomically."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    write_json(stem.with_suffix(".json"), data)
    if markdown is not None:
        atomic_write_text(stem.with_suffix(".md"), markdown)


def save_figure(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=130, format="png")
    plt.close(fig)


def plain_log_axis(axis: Any) -> None:
    """Log-scale ticks at 1, 2, 5 x 10^k, labelled as plain numbers (20, 50, 100, ...)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    axis.set_minor_formatter(NullFormatter())


def mean_of(metrics: dict, key: str) -> float | None:
    """The mean of one metric, or None when it was not computed."""
    m = metrics.get(key)
    return None if m is None else float(m["mean"])


Band = tuple[Sequence[float], Sequence[float], Sequence[float]]  # (mean, low, high) per x


def tox_ppl_figure(path: Path, xs: Sequence[float], tox: dict[str, Band],
                   ppl: Band | None, *, xlabel: str, what: str, judge: str, title: str,
                   log_x: bool = False, base: dict[str, float] | None = None) -> None:
    """Toxicity curves (label -> band; "max" lines solid, others dashed) and, with ``ppl``,
    perplexity against ``xs`` in a second panel; ``base`` draws dotted reference levels
    (label -> value, "perplexity" for the second panel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2 if ppl else 1, figsize=(11 if ppl else 6, 4), squeeze=False)
    ax = axes[0][0]
    for label, (m, lo, hi) in tox.items():
        line, = ax.plot(xs, m, "-o" if label.startswith("max") else "--s", markersize=4,
                        label=label)
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15)
        if base and label in base:
            ax.axhline(base[label], color=line.get_color(), lw=0.8, ls=":")
    panels = [(ax, "toxicity (0–1)", "toxicity")]
    if ppl:
        ax2 = axes[0][1]
        ax2.plot(xs, ppl[0], "-o", color="tab:purple", markersize=4)
        ax2.fill_between(xs, ppl[1], ppl[2], color="tab:purple", alpha=0.15)
        if base and "perplexity" in base:
            ax2.axhline(base["perplexity"], color="tab:purple", lw=0.8, ls=":")
        ax2.set_yscale("log")
        plain_log_axis(ax2.yaxis)
        panels.append((ax2, f"conditional perplexity under {judge} (log)", "fluency"))
    for a, ylabel, name in panels:
        if log_x:
            a.set_xscale("log")
        a.set_xlabel(xlabel)
        a.set_ylabel(ylabel)
        a.set_title(f"{name} vs. {what}", fontsize=10)
        a.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
