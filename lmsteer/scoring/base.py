"""The scorer interface and registry (toxicity and sentiment scorers share it)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..registry import Registry


class Scorer:
    """Maps texts to a probability of an attribute (toxicity, positivity, ...)."""

    name: str = ""
    version: str = ""
    attribute: str = ""
    batch_size: int = 256

    def score_batch(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def score(self, texts: Sequence[str], progress: bool = True) -> np.ndarray:
        """Scores in [0, 1], one per text, computed in batches with a progress bar."""
        out = []
        for i in tqdm(range(0, len(texts), self.batch_size), desc=f"score {self.name}",
                      disable=not progress, leave=False):
            out.append(self.score_batch(texts[i:i + self.batch_size]))
        return np.concatenate(out) if out else np.zeros(0)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "attribute": self.attribute}


SCORERS: Registry[type[Scorer]] = Registry("scorer")


def get_scorer(name: str, **options: Any) -> Scorer:
    """Instantiate a registered scorer (unknown names list the valid ones)."""
    return SCORERS.get(name)(**options)
