"""Scorers (one registry), fluency (perplexity under a judge LM) and diversity (dist-n)."""
from .base import SCORERS, Scorer, get_scorer
from . import sentiment, toxicity  # noqa: F401  (register the scorers)

__all__ = ["SCORERS", "Scorer", "get_scorer"]
