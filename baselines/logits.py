"""Methods that act on the frozen LM's forward pass: the shared wrapper.

Generation calls ``model(...)`` and reads ``.logits`` (and the KV cache); a method built on
:class:`ForwardWrapperMethod` swaps ``model.forward`` inside ``control()`` for one that may change
the inputs of the first (prompt) call and the logits of every call, and restores it on exit.
So these baselines run through the same batched sampler, seeds and records as LM-Steer.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import torch
from torch import nn

from lmsteer.methods import Method
from lmsteer.models import model_device


@contextlib.contextmanager
def patched_forward(model: nn.Module, make: Callable[[Callable], Callable]) -> Iterator[None]:
    """Within the block ``model.forward`` is ``make(original_forward)``; restored on exit.

    The one place where baselines hook the frozen LM's forward (logit shifts, DExperts' and
    GeDi's extra models, PPLM's perturbed history)."""
    model.forward = make(model.forward)
    try:
        yield
    finally:
        del model.forward  # the instance attribute; the class's forward shows again


class ForwardWrapperMethod(Method):
    """Base: override :meth:`adjust_logits` (and optionally :meth:`before_forward`)."""

    per_sample_strength = True  # adjust_logits gets a (B,) strength

    def adjust_logits(self, logits: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
        """logits (B, T, V); strength (B,) -> controlled logits (B, T, V)."""
        return logits

    def before_forward(self, kwargs: dict[str, Any], first: bool) -> dict[str, Any]:
        """Change the forward's keyword arguments (``first``: the prompt call, no cache)."""
        return kwargs

    @contextlib.contextmanager
    def control(self, model: nn.Module, strength: float | torch.Tensor) -> Iterator[None]:
        s = torch.as_tensor(strength, dtype=torch.float32, device=model_device(model))

        def make(original: Callable) -> Callable:
            def forward(*args: Any, **kwargs: Any):
                first = kwargs.get("cache") is None and kwargs.get("past_key_values") is None
                out = original(*args, **self.before_forward(dict(kwargs), first))
                b = out.logits.shape[0]
                out.logits = self.adjust_logits(out.logits, s.expand(b) if s.ndim == 0 else s)
                return out
            return forward

        with patched_forward(model, make):
            yield
