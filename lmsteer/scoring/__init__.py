"""Scorers (one registry), fluency (perplexity under a judge LM) and diversity (dist-n)."""
from .base import SCORERS, Scorer, get_scorer
from . import toxicity  # noqa: F401  (registers the toxicity scorers)

__all__ = ["SCORERS", "Scorer", "get_scorer"]
