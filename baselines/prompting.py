"""Prompting: steer by an instruction prefix only (the stand-in for the paper's PromptT5 row).

The embedded SmolLM2 is an instruct model, so a plain-text instruction before the prompt is a
fair prompting baseline; the table names it ``prompting`` (not PromptT5). Positive strength uses
``positive_prefix`` (detox: towards non-toxic text; sentiment: towards positive), negative
strength ``negative_prefix``, zero the bare prompt. Records and the perplexity judge keep the
original prompt, so only the continuation is compared.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lmsteer.errors import LMSteerError
from lmsteer.methods import Method, register_method

DEFAULT_PREFIXES = {
    "positive_prefix": "Continue the text in a polite, respectful and non-toxic way.\n\n",
    "negative_prefix": "Continue the text in a rude, insulting and toxic way.\n\n",
}
SENTIMENT_PREFIXES = {  # params: task=sentiment
    "positive_prefix": "Continue the text in a positive, cheerful and upbeat way.\n\n",
    "negative_prefix": "Continue the text in a negative, gloomy and critical way.\n\n",
}


@dataclass
class PromptingParams:
    task: str = "detox"  # the packaged instructions: detox or sentiment
    positive_prefix: str | None = None  # your own instruction, instead of the task's
    negative_prefix: str | None = None


@register_method("prompting")
class Prompting(Method):
    """Params: ``positive_prefix`` and ``negative_prefix`` (texts put before the prompt), or
    ``task`` (``detox``, the default, or ``sentiment``) for the packaged instructions."""
    Params = PromptingParams
    steers_forward = False  # it changes the text the LM is conditioned on

    row_independent = True  # the plain LM on prefixed prompts

    def prefix(self, strength: float | torch.Tensor) -> str:
        s = torch.as_tensor(strength, dtype=torch.float32).flatten()
        if s.numel() > 1 and not bool((torch.sign(s) == torch.sign(s[0])).all()):
            raise LMSteerError("prompting takes one sign of strength per batch (an instruction "
                               "per sign), not per-sample values of both signs")
        sign = float(torch.sign(s[0])) if s.numel() else 0.0
        if sign == 0:
            return ""
        key = "positive_prefix" if sign > 0 else "negative_prefix"
        given = getattr(self.p, key)
        return given if given is not None else self.defaults()[key]

    def defaults(self) -> dict[str, str]:
        task = self.p.task
        if task not in ("detox", "sentiment"):
            raise LMSteerError(f"prompting: task must be detox or sentiment, got {task!r}")
        return SENTIMENT_PREFIXES if task == "sentiment" else DEFAULT_PREFIXES

    def prompt_for(self, text: str, strength: float | torch.Tensor) -> str:
        return self.prefix(strength) + text

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "prefixes": {k: self.prefix(1.0 if k.startswith("pos")
                                                                  else -1.0)
                                                   for k in self.defaults()}}
