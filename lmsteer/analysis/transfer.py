"""Transfer a steer to another LM through a linear map between output-embedding spaces.

With ``H`` (d1 x d2) fitted so that ``e1 ~ H e2`` and ``G`` (d2 x d1) so that ``e2 ~ G e1`` on
the tokens both vocabularies share, the source's steered embedding ``(I + eps W) e1`` maps to
``G (I + eps W) H e2 ~ (I + eps G W H) e2``. With ``W = sum_i s_i P1_i P2_i^T`` this is again
low rank: ``P1' = G P1`` and ``P2' = H^T P2``.
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import torch
from torch import nn

from ..steer import Steer, SteerConfig, output_matrix_sha256

log = logging.getLogger(__name__)


def token_strings(tok: Any) -> dict[str, int]:
    """Decoded string -> first token id, for ordinary tokens that decode to visible text."""
    special = set(getattr(tok, "all_special_ids", []) or [])
    out: dict[str, int] = {}
    for i in range(len(tok)):
        if i in special:
            continue
        s = tok.decode([i])
        if s.strip() and "\ufffd" not in s and s not in out:
            out[s] = i
    return out


def shared_tokens(tok1: Any, tok2: Any) -> list[tuple[str, int, int]]:
    """(string, id in vocabulary 1, id in vocabulary 2) of tokens decoding to the same string."""
    a, b = token_strings(tok1), token_strings(tok2)
    return [(s, a[s], b[s]) for s in sorted(a.keys() & b.keys())]


def fit_linear_map(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Least-squares ``A`` (d_y x d_x) with ``y ~ A x`` row by row; x (n, d_x), y (n, d_y).

    Returns A and R^2 of the fit (share of y's variance around its mean explained)."""
    xd, yd = x.double(), y.double()
    sol = torch.linalg.lstsq(xd, yd).solution  # (d_x, d_y)
    resid = yd - xd @ sol
    r2 = 1.0 - float(resid.pow(2).sum() / (yd - yd.mean(0)).pow(2).sum())
    return sol.T.contiguous().float(), r2  # (d_y, d_x)


def fit_maps(e1: torch.Tensor, e2: torch.Tensor) -> dict[str, Any]:
    """Both directions between embeddings of shared tokens, e1 (n, d1) and e2 (n, d2)."""
    h, r2_h = fit_linear_map(e2, e1)  # e1 ~ H e2, H (d1, d2)
    g, r2_g = fit_linear_map(e1, e2)  # e2 ~ G e1, G (d2, d1)
    return {"H": h, "G": g, "r2_source_from_target": r2_h, "r2_target_from_source": r2_g}


def transfer_steer(steer: Steer, h: torch.Tensor, g: torch.Tensor, target: nn.Module,
                   target_name: str, info: dict[str, Any] | None = None) -> Steer:
    """A steer for ``target`` with ``P1' = G P1``, ``P2' = H^T P2`` (same values, same eps)."""
    d2 = target.get_output_embeddings().weight.shape[1]
    if g.shape != (d2, steer.config.hidden_size) or h.shape != (steer.config.hidden_size, d2):
        raise ValueError(f"maps of shapes {tuple(h.shape)}, {tuple(g.shape)} do not connect "
                         f"hidden size {steer.config.hidden_size} to {d2}")
    c = steer.config
    cfg = SteerConfig(num_steers=c.num_steers, rank=c.rank, epsilon=c.epsilon,
                      init_scale=c.init_scale, hidden_size=d2, base_model=target_name,
                      base_sha256=output_matrix_sha256(target),
                      extra={"transfer": {"source_model": c.base_model,
                                          "source_sha256": c.base_sha256, **(info or {})},
                             "source_extra": c.extra})
    out = Steer(cfg)
    with torch.no_grad():
        out.projector1.copy_(torch.einsum("ed,sdr->ser", g.cpu(), steer.projector1.float().cpu()))
        out.projector2.copy_(torch.einsum("de,sdr->ser", h.cpu(), steer.projector2.float().cpu()))
    return out


def embeddings_of(model: nn.Module, ids: Sequence[int]) -> torch.Tensor:
    """Rows of the output embedding matrix, float32, shape (len(ids), d)."""
    w = model.get_output_embeddings().weight.detach()
    return w[torch.as_tensor(list(ids), device=w.device)].float().cpu()


def carry_over(original: float, native: float, transferred: float) -> float | None:
    """Share of the native steer's reduction that the transferred steer achieves."""
    gap = original - native
    return None if abs(gap) < 1e-12 else (original - transferred) / gap


def table(records: dict[str, dict], scorers: Sequence[str], fit: dict) -> dict[str, Any]:
    """Carry-over per metric from the original, native and transferred records."""
    rows = []
    for sc in scorers:
        for key in ("max_toxicity", "mean_toxicity", "toxicity_prob"):
            k = f"{key}/{sc}"
            vals = {role: records[role]["metrics"][k] for role in records}
            rows.append({"metric": k, **{r: v["mean"] for r, v in vals.items()},
                         **{f"{r}_ci": [v["ci_low"], v["ci_high"]] for r, v in vals.items()},
                         "carry_over": carry_over(vals["original"]["mean"],
                                                  vals["native"]["mean"],
                                                  vals["transferred"]["mean"])})
    ppl = {r: rec["metrics"].get("perplexity", {}).get("mean") for r, rec in records.items()}
    return {"rows": rows, "perplexity": ppl, "fit": fit}


def to_markdown(data: dict) -> str:
    f = data["fit"]
    lines = [f"# Steer transfer — {data['source_model']} → {data['target_model']}", "",
             f"Linear maps fitted on the {f['shared_tokens']} tokens both vocabularies share "
             f"(decoded-string match; {f['source_vocab']} and {f['target_vocab']} tokens), R² "
             f"{f['r2_source_from_target']:.3f} (source from target) and "
             f"{f['r2_target_from_source']:.3f} (target from source). All three rows are "
             f"{data['target_model']} on {data['prompt_set']} ({data['n_prompts']} prompts × "
             f"{data['samples']} samples, same prompts and sampling seed); strength "
             f"{data['strength']}.", "",
             "| metric | original | native steer | transferred steer | carry-over |",
             "|---|---:|---:|---:|---:|"]
    for r in data["rows"]:
        co = "–" if r["carry_over"] is None else f"{100 * r['carry_over']:.0f}%"
        lines.append(f"| {r['metric']} | {r['original']:.3f} | {r['native']:.3f} | "
                     f"{r['transferred']:.3f} | {co} |")
    p = data["perplexity"]
    if all(v is not None for v in p.values()):
        lines.append(f"| perplexity | {p['original']:.1f} | {p['native']:.1f} | "
                     f"{p['transferred']:.1f} | |")
    lines += ["", "Carry-over: (original − transferred) / (original − native); the paper "
              "reports about half for GPT-2 → other LMs.", ""]
    if "source_steer" in data["rows"][0]:
        lines += [f"The untransferred steer on its own LM ({data['source_model']}, its Table 1 "
                  f"rows on {data['prompt_set']}, its own prompts):", "",
                  f"| metric | {data['source_model']} original | with its steer | reduction |",
                  "|---|---:|---:|---:|"]
        for r in data["rows"]:
            o, st = r["source_original"], r["source_steer"]
            red = f"{100 * (o - st) / o:.0f}%" if o else "–"
            lines.append(f"| {r['metric']} | {o:.3f} | {st:.3f} | {red} |")
        lines.append("")
    return "\n".join(lines)


def figure(data: dict, path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .common import save_figure

    rows = [r for r in data["rows"] if not r["metric"].startswith("toxicity_prob")]
    roles = [("original", "original", "tab:grey"), ("native", "native steer", "tab:blue"),
             ("transferred", f"transferred from {data['source_model']}", "tab:orange")]
    fig, ax = plt.subplots(figsize=(7.5, 4))
    width = 0.27
    for j, (role, label, colour) in enumerate(roles):
        xs = [i + (j - 1) * width for i in range(len(rows))]
        means = [r[role] for r in rows]
        err = [[m - r[f"{role}_ci"][0] for m, r in zip(means, rows)],
               [r[f"{role}_ci"][1] - m for m, r in zip(means, rows)]]
        ax.bar(xs, means, width, yerr=err, capsize=2, color=colour, label=label)
    ax.set_xticks(range(len(rows)), [r["metric"].replace("/", "\n") for r in rows], fontsize=8)
    ax.set_ylabel("toxicity (0–1)")
    ax.set_title(f"Steer transfer: {data['source_model']} → {data['target_model']} (all bars: "
                 f"{data['target_model']}, {data['prompt_set']}, 95% CI)", fontsize=9)
    ax.set_ylim(0, 1.18)
    ax.legend(fontsize=8, ncol=3, loc="upper center")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
