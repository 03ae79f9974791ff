"""Soft-Blacklist: subtract ``strength * penalty`` from the logits of words on a toxic list.

The list is derived from the training data (not from any scorer): words whose smoothed log-odds
of appearing in unwanted (value < 0) against wanted (value > 0) texts is highest, with a minimum
count. It is saved in the artifact's ``method.json`` (words, their log-odds and counts, how it
was made). At generation each word's first token, with and without a leading space, is
penalised; tokens shorter than ``min_token_chars`` are left alone so common word pieces survive.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from lmsteer.errors import LMSteerError
from lmsteer.methods import register_method

from .logits import ForwardWrapperMethod

WORD = re.compile(r"[a-z][a-z']+")


def toxic_words(data: Sequence[tuple[str, float]], top: int = 200, min_count: int = 5,
                prior: float = 1.0) -> list[dict[str, Any]]:
    """Words most over-represented in unwanted (value < 0) texts, by smoothed log-odds."""
    bad, good = Counter(), Counter()
    for text, value in data:
        words = set(WORD.findall(text.lower()))  # document frequency
        if value < 0:
            bad.update(words)
        elif value > 0:
            good.update(words)
    n_bad = sum(1 for _, v in data if v < 0) or 1
    n_good = sum(1 for _, v in data if v > 0) or 1
    scored = []
    for w, c in bad.items():
        if c < min_count:
            continue
        g = good.get(w, 0)
        lo = math.log((c + prior) / (n_bad - c + prior)) - math.log((g + prior) / (n_good - g + prior))
        scored.append({"word": w, "log_odds": round(lo, 4), "unwanted": c, "wanted": g})
    scored.sort(key=lambda r: (-r["log_odds"], r["word"]))
    return [r for r in scored if r["log_odds"] > 0][:top]


@dataclass
class BlacklistParams:
    penalty: float = 5.0  # logit units per unit strength
    top: int = 200  # list size
    min_count: int = 5  # texts a word must appear in
    min_token_chars: int = 3  # shorter first tokens are not penalised


@register_method("soft_blacklist")
class SoftBlacklist(ForwardWrapperMethod):
    """Params: ``penalty`` (logit units per unit strength, default 5), ``top`` (list size,
    200), ``min_count`` (5), ``min_token_chars`` (3)."""
    Params = BlacklistParams
    contract_params = {"min_count": 2, "min_token_chars": 1, "penalty": 5.0}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.words: list[dict[str, Any]] = []
        self.token_ids: torch.Tensor | None = None

    def fit(self, model, tok, data, out_dir, seed):
        self.words = toxic_words(data, self.p.top, self.p.min_count)
        self.n_texts = len(data)
        self._index(tok)
        return {"words": len(self.words), "token_ids": int(self.token_ids.numel())}

    def artifact_state(self):
        return {"source": "derived from the training data: smoothed log-odds of unwanted vs. "
                          "wanted document frequency", "n_texts": getattr(self, "n_texts", None),
                "words": self.words}

    def load(self, model, tok, artifact_dir):
        if "words" not in self.saved_state:
            raise LMSteerError("soft_blacklist needs the folder its training wrote "
                               f"({artifact_dir}: no word list)")
        self.words = self.saved_state["words"]
        self._index(tok)

    def _index(self, tok: Any) -> None:
        min_chars = self.p.min_token_chars
        ids = set()
        for r in self.words:
            for form in (r["word"], " " + r["word"]):
                first = tok(form, add_special_tokens=False)["input_ids"][:1]
                if first and len(tok.decode(first).strip()) >= min_chars:
                    ids.add(first[0])
        self.token_ids = torch.tensor(sorted(ids), dtype=torch.long)

    def adjust_logits(self, logits: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
        penalty = self.p.penalty
        out = logits.clone()
        shift = (strength.to(logits.dtype) * penalty)[:, None, None]  # (B, 1, 1)
        out[..., self.token_ids.to(logits.device)] -= shift
        return out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "list": "derived from training data",
                "words": len(self.words)}
