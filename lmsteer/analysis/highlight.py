"""Keyword highlighting: per token, how much more likely the steered model finds it than the
plain model; the n best spans of at most l tokens found exactly by dynamic programming."""
from __future__ import annotations

import html
from typing import Any, Sequence

import torch

from ..models import model_device
from ..steer import Steer


def best_spans(scores: Sequence[float], n: int, max_len: int) -> tuple[float, list[tuple[int, int]]]:
    """At most ``n`` disjoint spans ``[start, end)`` of at most ``max_len`` items with the
    largest total score (exact, O(len * n * max_len)); spans in order of position."""
    t = len(scores)
    pre = [0.0]
    for s in scores:
        pre.append(pre[-1] + float(s))
    # best[j][i]: best total over the first i items using at most j spans
    best = [[0.0] * (t + 1) for _ in range(n + 1)]
    choice: list[list[int]] = [[0] * (t + 1) for _ in range(n + 1)]  # span length ending at i
    for j in range(1, n + 1):
        for i in range(1, t + 1):
            val, arg = best[j][i - 1], 0
            for ln in range(1, min(max_len, i) + 1):
                cand = best[j - 1][i - ln] + pre[i] - pre[i - ln]
                if cand > val + 1e-12:
                    val, arg = cand, ln
            best[j][i], choice[j][i] = val, arg
    spans, i, j = [], t, n
    while i > 0 and j > 0:
        ln = choice[j][i]
        if ln == 0:
            i -= 1
        else:
            spans.append((i - ln, i))
            i, j = i - ln, j - 1
    return best[n][t], spans[::-1]


@torch.no_grad()
def token_shifts(model: Any, tok: Any, steer: Steer, text: str, values: Sequence[float]
                 ) -> tuple[list[tuple[int, int]], list[float]]:
    """Character offsets of ``text``'s tokens and ``log p_steered - log p_plain`` of each
    (0 for the first token, which nothing predicts). ``steer`` must be attached to ``model``."""
    enc = tok(text, return_tensors="pt", return_offsets_mapping=True)
    ids = enc["input_ids"].to(model_device(model))  # (1, T)
    offsets = [tuple(o) for o in enc["offset_mapping"][0].tolist()]
    steer.set_values(None)
    plain = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)  # (T-1, V)
    steer.set_values(torch.as_tensor(values, dtype=torch.float32))
    try:
        steered = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
    finally:
        steer.set_values(None)
    tgt = ids[0, 1:, None]  # (T-1, 1)
    diff = (steered.gather(1, tgt) - plain.gather(1, tgt))[:, 0]
    return offsets, [0.0] + diff.tolist()


def render(text: str, offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]],
           fmt: str = "md") -> str:
    """``text`` with the characters of each token span in bold (md) or <mark> (html); spans
    that touch (or are separated by white space only) are marked as one."""
    ranges: list[list[int]] = []
    for a, b in spans:
        start, end = offsets[a][0], offsets[b - 1][1]
        while start < end and text[start].isspace():
            start += 1
        if start >= end:
            continue
        if ranges and not text[ranges[-1][1]:start].strip():
            ranges[-1][1] = max(ranges[-1][1], end)
        elif not ranges or start >= ranges[-1][1]:
            ranges.append([start, end])
    out, pos = [], 0
    for start, end in ranges:
        plain, marked = text[pos:start], text[start:end]
        if fmt == "html":
            out += [html.escape(plain), f"<mark>{html.escape(marked)}</mark>"]
        else:
            out += [plain.replace("*", "\\*"), f"**{marked.replace('*', '')}**"]
        pos = end
    rest = text[pos:]
    out.append(html.escape(rest) if fmt == "html" else rest.replace("*", "\\*"))
    return "".join(out)


def to_markdown(data: dict) -> str:
    lines = [f"# Keyword highlighting — {data['model']}", "",
             f"Steer `{data['steer']}` at value {data['value']:+g} (towards the unwanted "
             f"attribute); per token, log p(steered) − log p(plain). In bold: the "
             f"{data['n_spans']} spans of at most {data['max_len']} tokens with the largest "
             f"total (exact dynamic programming). {len(data['examples'])} held-out toxic "
             f"comments from {', '.join(data['sources'])} (not in the steer's training set).", ""]
    for i, ex in enumerate(data["examples"], 1):
        lines.append(f"{i}. {ex['markdown']}  _(total {ex['total']:.2f})_")
    return "\n".join(lines) + "\n"


def to_html(data: dict) -> str:
    items = "\n".join(f"<li>{ex['html']} <small>(total {ex['total']:.2f})</small></li>"
                      for ex in data["examples"])
    return (f"<!doctype html><meta charset='utf-8'><title>Highlighting — "
            f"{html.escape(data['model'])}</title>\n<h1>Keyword highlighting — "
            f"{html.escape(data['model'])}</h1>\n<p>Marked: the {data['n_spans']} spans of at "
            f"most {data['max_len']} tokens that the steer at {data['value']:+g} makes most "
            f"likely (log-likelihood difference to the plain model).</p>\n<ol>\n{items}\n</ol>\n")
