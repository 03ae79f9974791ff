"""Every default of a run, in one place: the CLI, the library's functions and the workflow's
plan read them from here (the config schema states no default of its own for these)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Generation:
    """Sampling: the paper's 25 samples of 20 new tokens per prompt, nucleus mass 0.9."""

    samples: int = 25
    max_new_tokens: int = 20
    top_p: float = 0.9


@dataclass(frozen=True)
class TrainingData:
    """Examples per class of a steer's training set (toxic / clean, or per SST-5 label)."""

    per_class: int = 2000
    sources: tuple[str, ...] = ("davidson", "olid")


GENERATION = Generation()
TRAINING_DATA = TrainingData()
