"""Reading a steer: SVD of the learned ``W`` and the vocabulary words its top singular
directions align with; and, as the paper's motivating table, the top words of chosen dimensions
of the raw output-embedding space."""
from __future__ import annotations

import re
from typing import Any, Sequence

import torch

from ..steer import Steer

WORDLIKE = re.compile(r"^[A-Za-z]{3,}$")


def steer_matrix(steer: Steer, index: int = 0) -> torch.Tensor:
    """``W_i = P1_i P2_i^T`` (d x d) of steer ``index`` (the trained one by default)."""
    return steer.projector1[index].detach().float() @ steer.projector2[index].detach().float().T


def word_like(tok: Any) -> tuple[torch.Tensor, list[str]]:
    """Ids and forms of the vocabulary's word-initial tokens of letters only (>= 3): tokens
    that decode with a leading space; tokenizers that decode none so fall back to all tokens."""
    decoded = [tok.decode([i]) for i in range(len(tok))]
    for need_space in (True, False):
        ids, words = [], []
        for i, s in enumerate(decoded):
            if (not need_space or s.startswith(" ")) and WORDLIKE.match(s.strip()):
                ids.append(i)
                words.append(s.strip())
        if len(ids) >= 50:
            break
    return torch.tensor(ids, dtype=torch.long), words


def top_words(scores: torch.Tensor, words: Sequence[str], k: int) -> list[str]:
    """The ``k`` words with the largest scores, one entry per distinct lower-cased word."""
    out, seen = [], set()
    for i in torch.argsort(scores, descending=True).tolist():
        w = words[i]
        if w.lower() not in seen:
            seen.add(w.lower())
            out.append(w)
        if len(out) == k:
            break
    return out


def probe(steer: Steer, emb: torch.Tensor, tok: Any, *, n_dirs: int, k: int,
          dims: Sequence[int] | None = None, n_dims: int = 5) -> dict[str, Any]:
    """SVD of W with the words at both ends of each top right-singular direction, and the top
    words of raw embedding dimensions (default: those the first direction loads on most)."""
    w = steer_matrix(steer).cpu()  # (d, d)
    u, s, vh = torch.linalg.svd(w)
    ids, words = word_like(tok)
    e = emb.detach().float().cpu()[ids]  # (n_words, d)
    unit = e / e.norm(dim=1, keepdim=True).clamp_min(1e-12)  # cosine, not norm, decides
    directions = []
    for i in range(min(n_dirs, len(s))):
        reads, writes = unit @ vh[i], unit @ u[:, i]  # (n_words,) each
        directions.append({"index": i, "singular_value": float(s[i]),
                           "reads_positive": top_words(reads, words, k),
                           "reads_negative": top_words(-reads, words, k),
                           "writes_positive": top_words(writes, words, k),
                           "writes_negative": top_words(-writes, words, k)})
    if dims is None:
        dims = torch.argsort(vh[0].abs(), descending=True)[:n_dims].tolist()
    raw = [{"dim": int(d), "top": top_words(e[:, d], words, k),
            "bottom": top_words(-e[:, d], words, k)} for d in dims]
    total = float(s.pow(2).sum())
    return {"singular_values": [float(x) for x in s[:max(n_dirs, 10)]],
            "energy_top": [float(s[:i + 1].pow(2).sum()) / total for i in range(min(10, len(s)))],
            "directions": directions, "raw_dims": raw, "word_like_tokens": len(words)}


def to_markdown(data: dict) -> str:
    lines = [f"# Probing the steer — {data['model']}", "",
             f"SVD of W = P1 P2ᵀ of steer `{data['steer']}` (rank {data['rank']}); the steered "
             f"embedding is e + εWe = e + ε Σ σ u (vᵀe). For each top singular direction, the "
             f"word-initial tokens of letters only ({data['word_like_tokens']} of them) whose "
             f"output embeddings are most aligned (cosine) with the direction the steer reads "
             f"(v) and the one it writes (u), at both ends (singular vectors have no sign).", "",
             "| dim. | σ | reads v (+) | reads v (−) | writes u (+) | writes u (−) |",
             "|---:|---:|---|---|---|---|"]
    for d in data["directions"]:
        cells = [", ".join(d[k]) for k in ("reads_positive", "reads_negative",
                                           "writes_positive", "writes_negative")]
        lines.append(f"| {d['index']} | {d['singular_value']:.3g} | " + " | ".join(cells) + " |")
    e = data["energy_top"]
    lines += ["", f"Share of ‖W‖² in the top 1 / 3 / 10 directions: {e[0]:.2f} / "
              f"{e[min(2, len(e) - 1)]:.2f} / {e[-1]:.2f}.", "",
              "## Raw output-embedding dimensions", "",
              "The dimensions of the embedding space on which the first direction (v) loads "
              "most; the words with the largest and smallest value in each.", "",
              "| embedding dim. | top words | bottom words |", "|---:|---|---|"]
    for r in data["raw_dims"]:
        lines.append(f"| {r['dim']} | {', '.join(r['top'])} | {', '.join(r['bottom'])} |")
    lines += ["", f"Model: {data['model']}.", ""]
    return "\n".join(lines)
