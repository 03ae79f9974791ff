"""Batched, seeded top-p sampling with a KV cache: many samples of many prompts per batch."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Hashable, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from .defaults import GENERATION
from .errors import LMSteerError
from .models import model_device
from .sampling import sample_top_p

if TYPE_CHECKING:  # methods.py imports this module; the type is only for annotations
    from .methods import Method

log = logging.getLogger(__name__)


def context_length(model: nn.Module) -> int | None:
    """The model's maximum number of positions (``n_positions`` or ``max_position_embeddings``),
    or None where its config names none."""
    cfg = model.config
    cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    for key in ("n_positions", "max_position_embeddings"):
        n = getattr(cfg, key, None)
        if isinstance(n, int) and n > 0:
            return n
    return None


def fit_context(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor, max_new_tokens: int,
                warn: bool = True, rows: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids and mask (B, T), cut from the left so that prompt plus ``max_new_tokens``
    fit the model's positions (logged unless ``warn`` is false; a prompt keeps its last tokens,
    the ones it is continued from). Unchanged where they fit or the model names no limit.
    ``rows`` (B,): how many sequences each row stands for in the log (shared prompts)."""
    limit = context_length(model)
    if limit is None or ids.shape[1] + max_new_tokens <= limit:
        return ids, mask
    keep = limit - max_new_tokens
    if keep < 1:
        raise LMSteerError(f"max_new_tokens={max_new_tokens} leaves no room for a prompt in the "
                           f"model's {limit} positions")
    rows = torch.ones(ids.shape[0], dtype=torch.long) if rows is None else rows.cpu()
    cut = int(rows[(mask[:, :-keep].sum(-1) > 0).cpu()].sum())
    if cut and warn:
        log.warning("%d of %d sequences (prompt x sample) are longer than the model's %d "
                    "positions minus %d new tokens: kept their last %d tokens", cut,
                    int(rows.sum()), limit, max_new_tokens, keep)
    return ids[:, -keep:], mask[:, -keep:]  # (B, keep)


def last_position(ids: torch.Tensor) -> torch.Tensor:
    """``logits_to_keep`` for the last position of ``ids`` (B, T), as a (1,) index tensor.

    ``logits_to_keep=1`` keeps the slice ``hidden[:, -1:]`` (B, 1, d), a non-contiguous view
    when T > 1, and torch's linear then runs one (1, d) x (d, V) product per row: for Gemma's
    262k vocabulary and 100 rows 2.8 s here against 0.21 s for the single (B, d) x (d, V)
    product an index tensor (a contiguous copy) gets; the whole prompt pass 2.1x faster
    (bench/bench_prefill.py). Same logits up to float rounding."""
    return torch.tensor([ids.shape[1] - 1], device=ids.device)


def left_positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids (B, T) of left-padded rows from their attention mask (B, T): 0 at each
    row's first real token, the padding before it at 0 too."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


def distinct_rows(texts: Sequence[Hashable]) -> tuple[list, torch.Tensor]:
    """The distinct texts (or token tuples) in order of first appearance, and for every text
    its index among them (B,): ``[distinct[i] for i in inv] == texts``."""
    first: dict[Hashable, int] = {}
    inv = [first.setdefault(t, len(first)) for t in texts]
    return list(first), torch.tensor(inv, dtype=torch.long)


@torch.no_grad()
def sample_ids(model: nn.Module, tok: Any, texts: Sequence[str], *, max_new_tokens: int,
               top_p: float = GENERATION.top_p, temperature: float = 1.0, seed: int = 0,
               greedy: bool = False, share_prompts: bool = False) -> torch.Tensor:
    """Continue left-padded ``texts`` by up to ``max_new_tokens`` tokens with a KV cache.

    Returns the new token ids (B, n_new), pad after an end-of-sequence token. Sampling is exact
    top-p (:func:`sample_top_p`), seeded by ``seed``; ``greedy`` takes the argmax (for tests).
    ``share_prompts``: run each distinct text through the prompt pass once and copy its cache
    and logits to every row that repeats it (25 samples of a prompt cost one prompt pass); only
    for a model whose forward treats rows independently (a method says so,
    :meth:`lmsteer.methods.Method.prompt_pass_shared`). Same tokens up to float rounding.
    """
    dev = model_device(model)
    rows, inv = distinct_rows(texts) if share_prompts else (list(texts), None)
    enc = tok(rows, return_tensors="pt", padding=True).to(dev)
    ids, mask = fit_context(model, enc["input_ids"], enc["attention_mask"], max_new_tokens,
                            rows=None if inv is None else torch.bincount(inv))
    gen = torch.Generator(device=dev).manual_seed(seed)
    pos = left_positions(mask)  # (U, T)
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                logits_to_keep=last_position(ids))
    logits, cache = out.logits[:, -1], out.cache  # (U, V)
    if inv is not None:  # every row of texts gets its distinct prompt's cache and logits
        inv = inv.to(dev)  # (B,)
        cache.batch_select_indices(inv)
        logits, mask, pos = logits[inv], mask[inv], pos[inv]  # (B, V), (B, T), (B, T)
    eos, pad = tok.eos_token_id, tok.pad_token_id
    done = torch.zeros(mask.shape[0], dtype=torch.bool, device=dev)
    next_pos = pos[:, -1:] + 1  # (B, 1)
    new: list[torch.Tensor] = []
    for step in range(max_new_tokens):
        nxt = logits.argmax(-1) if greedy else sample_top_p(logits, top_p, temperature,
                                                             generator=gen)
        nxt = torch.where(done, torch.full_like(nxt, pad), nxt)  # (B,)
        new.append(nxt)
        done |= nxt == eos
        if bool(done.all()) or step == max_new_tokens - 1:
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=next_pos,
                    cache=cache, use_cache=True)
        logits, cache = out.logits[:, -1], out.cache  # (B, V)
        next_pos = next_pos + 1
    return torch.stack(new, dim=1)  # (B, n_new)


def decode_new(tok: Any, new_ids: torch.Tensor) -> tuple[list[str], list[int]]:
    """New token ids (B, n) -> texts and token counts up to the first end-of-sequence token."""
    ended = (new_ids == tok.eos_token_id).int().cumsum(dim=1) > 0  # EOS and everything after
    return (tok.batch_decode(new_ids.cpu(), skip_special_tokens=True),
            (~ended).sum(dim=1).tolist())


def sample_batch(model: nn.Module, tok: Any, texts: Sequence[str], **kw: Any
                 ) -> tuple[list[str], list[int]]:
    """:func:`sample_ids`, decoded: the continuations (new tokens only, cut by tokens) and
    their token counts up to the first end-of-sequence token."""
    return decode_new(tok, sample_ids(model, tok, texts, **kw))


def generate(model: nn.Module, tok: Any, method: Method, prompts: Sequence[dict],
             strength: float, *, samples: int = GENERATION.samples,
             max_new_tokens: int = GENERATION.max_new_tokens, top_p: float = GENERATION.top_p,
             temperature: float = 1.0, batch_size: int = 100, seed: int = 0,
             meta: dict[str, Any] | None = None, progress: bool = True,
             start_offset: int = 0) -> list[dict]:
    """``samples`` continuations for each prompt under ``method`` at ``strength``.

    Prompts are packed so that one forward batch holds about ``batch_size`` sequences; each
    chunk's sampling seed depends only on ``seed`` and the chunk's first prompt, so a rerun
    (or a resumed run) reproduces the same text. ``start_offset``: the position of
    ``prompts[0]`` in the whole sample, for a shard (:mod:`lmsteer.shards`).
    """
    per_batch = max(1, batch_size // samples)
    rows: list[dict] = []
    meta = meta or {}
    values = method.control_values(strength) if isinstance(strength, (int, float)) else None
    shared = method.prompt_pass_shared(strength)  # one prompt pass per prompt, not per sample
    with method.control(model, strength):
        for start in tqdm(range(0, len(prompts), per_batch), desc=f"generate {method.name}",
                          disable=not progress, unit="batch"):
            chunk = prompts[start:start + per_batch]
            texts = [method.prompt_for(p["text"], strength) for p in chunk for _ in range(samples)]
            conts, lengths = method.sample(model, tok, texts, max_new_tokens=max_new_tokens,
                                           top_p=top_p, temperature=temperature,
                                           seed=seed * 1_000_003 + start_offset + start,
                                           share_prompts=shared)
            for j, (c, n) in enumerate(zip(conts, lengths)):
                p = chunk[j // samples]
                rows.append({"prompt_id": p["id"], "prompt": p["text"], "sample": j % samples,
                             "continuation": c, "n_tokens": n, "method": method.name,
                             "strength": strength, "steer_values": values,
                             "seed": seed, **meta})
    return rows
