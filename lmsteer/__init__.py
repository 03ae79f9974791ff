"""LM-Steer: steer a frozen causal LM through its output word embeddings."""
from __future__ import annotations

from typing import Any

from .version import __version__
__all__ = ["Steer", "SteerConfig", "__version__"]


def __getattr__(name: str) -> Any:
    """Import torch-backed names on first use, so torch-free modules (``lmsteer.model_specs``,
    read by the Snakemake workflow) import without torch."""
    if name in ("Steer", "SteerConfig"):
        from . import steer

        return getattr(steer, name)
    raise AttributeError(f"module 'lmsteer' has no attribute {name!r}")
