"""Fine-tuning a causal LM on attribute text: shared by DAPT, DExperts and LoRA.

Only the parameters handed in train (e.g. the top transformer blocks, or LoRA factors); the
rest stay frozen. Batches are seeded and depend only on (seed, step). Tuned tensors are saved
as safetensors and put back into a model in place (and taken out again) by name.
"""
from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from lmsteer.errors import LMSteerError, TrainingError
from lmsteer.io import atomic_path
from lmsteer.headloss import head_parts, token_nll
from lmsteer.models import model_device

log = logging.getLogger(__name__)


def transformer_blocks(model: nn.Module) -> nn.ModuleList:
    """The model's list of transformer blocks (GPT-2/J ``h``, Llama/Gemma/NeoX ``layers``)."""
    n = getattr(model.config, "num_hidden_layers", None) or getattr(model.config, "n_layer", None)
    for module in model.base_model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return module
    raise LMSteerError(f"{type(model).__name__}: no list of {n} transformer blocks found")


def top_block_parameters(model: nn.Module, top: int) -> dict[str, nn.Parameter]:
    """Parameters of the last ``top`` blocks, by their name in ``model``."""
    blocks = transformer_blocks(model)
    chosen = {id(p) for b in list(blocks)[-top:] for p in b.parameters()}
    return {n: p for n, p in model.named_parameters() if id(p) in chosen}


def next_token_nll(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   keep: torch.Tensor) -> torch.Tensor:
    """NLL of the next tokens ``input_ids[:, 1:][keep]``, keep (B, T-1) bool: (N,).

    With a frozen output matrix (every fine-tune here tunes blocks below it) the head runs on
    the kept positions' last hidden states only, chunked (:func:`lmsteer.headloss.token_nll`):
    the full (B, T, V) logits, pads and all, are never formed."""
    target = input_ids[:, 1:][keep]  # (N,)
    weight, bias, cap = head_parts(model)
    if weight.requires_grad or (bias is not None and bias.requires_grad):  # a tuned head
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
        return nn.functional.cross_entropy(logits[:, :-1][keep].float(), target,
                                           reduction="none")
    hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask
                              ).last_hidden_state  # (B, T, d), after the final norm
    return token_nll(hidden[:, :-1][keep], weight, target, bias, cap)


def lm_loss(model: nn.Module, tok: Any, texts: Sequence[str], max_length: int) -> torch.Tensor:
    """Mean next-token NLL over the (right-padded) texts' real tokens."""
    side = tok.padding_side
    tok.padding_side = "right"
    try:
        enc = tok(list(texts), return_tensors="pt", padding=True, truncation=True,
                  max_length=max_length).to(model_device(model))
    finally:
        tok.padding_side = side
    keep = enc["attention_mask"][:, 1:] > 0  # (B, T-1): positions whose next token is real
    return next_token_nll(model, enc["input_ids"], enc["attention_mask"], keep).mean()


@contextlib.contextmanager
def only_trainable(model: nn.Module, params: Sequence[nn.Parameter] = ()) -> Iterator[None]:
    """Inside the block only ``params`` of ``model`` require grad (none by default: the model
    is frozen); every parameter's flag is restored on exit."""
    flags = [p.requires_grad for p in model.parameters()]
    wanted = {id(p) for p in params}
    for p in model.parameters():
        p.requires_grad_(id(p) in wanted)
    try:
        yield
    finally:
        for p, f in zip(model.parameters(), flags):
            p.requires_grad_(f)


def finetune(model: nn.Module, tok: Any, texts: Sequence[Any], params: dict[str, nn.Parameter],
             *, steps: int, lr: float, batch_size: int, max_length: int, seed: int,
             desc: str = "fine-tune", progress: bool = True,
             loss_fn: Callable[[list], torch.Tensor] | None = None) -> list[float]:
    """Adam on ``params`` only (the rest of ``model`` is frozen for the call); returns losses.

    The loss of a batch is the LM loss of its texts, or ``loss_fn(batch)`` for other items
    (e.g. (text, label) pairs)."""
    if not texts:
        raise TrainingError("no texts to fine-tune on")
    opt = torch.optim.Adam(list(params.values()), lr=lr)
    losses: list[float] = []
    model.train()
    with only_trainable(model, list(params.values())):
        try:
            for step in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
                gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
                idx = torch.randint(len(texts), (batch_size,), generator=gen).tolist()
                batch = [texts[i] for i in idx]
                loss = loss_fn(batch) if loss_fn else lm_loss(model, tok, batch, max_length)
                if not math.isfinite(loss.item()):
                    raise TrainingError(f"{desc}: loss became {loss.item()} at step {step}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(round(loss.item(), 6))
        finally:
            model.eval()
    return losses


def save_tensors(path: Path, params: dict[str, torch.Tensor]) -> None:
    with atomic_path(path) as tmp:
        save_file({n: p.detach().contiguous().clone() for n, p in params.items()}, str(tmp))


def load_tensors(path: Path, model: nn.Module) -> dict[str, torch.Tensor]:
    """Saved tensors, checked against ``model``'s parameter names and shapes."""
    if not path.is_file():
        raise LMSteerError(f"{path} is missing: run the method's training first")
    tensors = load_file(str(path))
    own = dict(model.named_parameters())
    bad = [n for n, t in tensors.items() if n not in own or own[n].shape != t.shape]
    if bad:
        raise LMSteerError(f"{path} does not fit {type(model).__name__} (e.g. {bad[0]!r})")
    return tensors


@contextlib.contextmanager
def swapped(model: nn.Module, tensors: dict[str, torch.Tensor],
            scale: float = 1.0) -> Iterator[None]:
    """Within the block, ``model``'s named parameters hold ``tensors`` (``scale`` != 1: the
    base weights moved ``scale`` times the way to them, ``w + scale * (t - w)``); restored on
    exit."""
    own = dict(model.named_parameters())
    saved = {n: own[n].detach().clone() for n in tensors}
    with torch.no_grad():
        for n, t in tensors.items():
            own[n].copy_(t if scale == 1.0 else saved[n] + scale * (t.to(saved[n]) - saved[n]))
    try:
        yield
    finally:
        with torch.no_grad():
            for n, t in saved.items():
                own[n].copy_(t)


def tuned_copy(model: nn.Module, tensors: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of ``model`` (eval mode) whose named parameters hold ``tensors``."""
    import copy

    m = copy.deepcopy(model).eval()
    own = dict(m.named_parameters())
    with torch.no_grad():
        for n, t in tensors.items():
            own[n].copy_(t)
    return m
