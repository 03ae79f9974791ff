"""dist-n: distinct n-grams over a prompt's continuations (whitespace tokens, as DExperts)."""
from __future__ import annotations

from typing import Sequence


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique n-grams / total n-grams over all ``texts`` (0.0 when there are none)."""
    total, seen = 0, set()
    for t in texts:
        toks = t.split()
        grams = [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0
