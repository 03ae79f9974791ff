"""LM-Steer: steer a frozen causal LM through its output word embeddings."""
from __future__ import annotations

__version__ = "0.1.0"

from .steer import Steer, SteerConfig  # noqa: E402

__all__ = ["Steer", "SteerConfig", "__version__"]
