"""An attribute classifier on the frozen LM's hidden states, shared by PPLM and MuCoLa.

PPLM's discriminator is a linear layer on the mean of the LM's last hidden states over a text;
MuCoLa's constraint is a classifier that reads the same LM, so it is differentiable with respect
to the input embeddings. One probe serves both: ``logits = W mean_t(h_t) + b`` with class 0 the
wanted attribute (non-toxic / target sentiment) and class 1 the unwanted one. It trains in
seconds on the last hidden states that LM-Steer's training caches (same texts, same file).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from lmsteer.errors import LMSteerError, TrainingError
from lmsteer.io import atomic_path
from lmsteer.steer import output_matrix_sha256
from lmsteer.train import cached_hidden_states

log = logging.getLogger(__name__)

WANTED, UNWANTED = 0, 1


class Probe(nn.Module):
    """Linear attribute classifier on mean-pooled last hidden states."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden_size, 2)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """pooled (B, d) -> class logits (B, 2): [wanted, unwanted]."""
        return self.linear(pooled.float())


def pooled_examples(model: nn.Module, tok: Any, texts: Sequence[str], max_length: int,
                    cache_dir: str | None, progress: bool = True) -> torch.Tensor:
    """Mean last hidden state of each text: (E, d), from the (shared) hidden-state cache."""
    cache = cached_hidden_states(model, tok, texts, max_length, 32,
                                 Path(cache_dir) if cache_dir else None,
                                 output_matrix_sha256(model), progress)
    sums = torch.zeros(len(texts), cache.hidden.shape[1])
    sums.index_add_(0, cache.example, cache.hidden.float())
    counts = (cache.offsets[1:] - cache.offsets[:-1]).clamp(min=1).float()  # (E,)
    return sums / counts[:, None]


def train_probe(model: nn.Module, tok: Any, data: Sequence[tuple[str, float]], *, seed: int,
                max_length: int = 48, steps: int = 300, lr: float = 1e-2,
                weight_decay: float = 1e-4, cache_dir: str | None = None,
                progress: bool = True) -> tuple[Probe, dict[str, Any]]:
    """Fit the probe on (text, value) pairs (value > 0 wanted, < 0 unwanted) with the LM
    frozen; a seeded 10% is held out and its accuracy reported."""
    pairs = [(t, WANTED if v > 0 else UNWANTED) for t, v in data if v != 0]
    labels = torch.tensor([c for _, c in pairs])
    if len(set(labels.tolist())) < 2:
        raise TrainingError("the probe needs texts of both the wanted and the unwanted class")
    x = pooled_examples(model, tok, [t for t, _ in pairs], max_length, cache_dir, progress)
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(pairs), generator=gen)
    n_test = max(1, len(pairs) // 10)
    test, train = order[:n_test], order[n_test:]
    mu, sd = x[train].mean(0), x[train].std(0).clamp(min=1e-4)  # (d,) standardise for Adam
    torch.manual_seed(seed)
    probe = Probe(x.shape[1])
    opt = torch.optim.Adam(probe.parameters(), lr=lr, weight_decay=weight_decay)
    xs = (x - mu) / sd
    for _ in range(steps):
        loss = nn.functional.cross_entropy(probe(xs[train]), labels[train])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():  # fold the standardisation into the linear layer
        probe.linear.weight /= sd
        probe.linear.bias -= probe.linear.weight @ mu
        acc = lambda i: float((probe(x[i]).argmax(-1) == labels[i]).float().mean())  # noqa: E731
        info = {"examples": len(pairs), "train_accuracy": round(acc(train), 4),
                "heldout_accuracy": round(acc(test), 4), "final_loss": round(loss.item(), 6)}
    log.info("attribute probe: %s", info)
    return probe, info


def save_probe(path: Path, probe: Probe) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous() for k, v in probe.state_dict().items()}, str(tmp))


def load_probe(path: Path, model: nn.Module) -> Probe:
    if not path.is_file():
        raise LMSteerError(f"{path} is missing: run the method's training first")
    state = load_file(str(path))
    d = model.get_output_embeddings().weight.shape[1]
    if state["linear.weight"].shape != (2, d):
        raise LMSteerError(f"{path}: probe of shape {tuple(state['linear.weight'].shape)} "
                           f"does not fit hidden size {d}")
    probe = Probe(d)
    probe.load_state_dict(state)
    return probe.eval().requires_grad_(False)
