"""Conditional perplexity of a continuation given its prompt under a judge LM."""
from __future__ import annotations

import logging
import math
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from ..generate import distinct_rows, left_positions
from ..headloss import head_parts, token_nll
from ..models import model_device

log = logging.getLogger(__name__)

Rows = tuple[torch.Tensor, torch.Tensor, list[int]]  # hidden (N, d), targets (N,), per-pair counts


@torch.no_grad()
def conditional_perplexity(model: Any, tok: Any, prompts: Sequence[str],
                           continuations: Sequence[str], batch_size: int = 16,
                           progress: bool = True, share_prompts: bool = True) -> list[float]:
    """exp(mean NLL of the continuation's tokens | prompt), one per pair; NaN if empty.

    Prompt and prompt+continuation are tokenised by the judge's own tokenizer; the tokens past
    the prompt's are the continuation's. ``share_prompts``: the pairs of a batch that share
    their prompt tokens (a prompt's samples) run the prompt through the judge once and
    continue from its cache; otherwise each pair is one right-padded forward. Same numbers up
    to float rounding.
    """
    out: list[float] = []
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    weight, bias, cap = head_parts(model)
    for i in tqdm(range(0, len(prompts), batch_size), desc="perplexity", disable=not progress,
                  leave=False):
        ps, cs = prompts[i:i + batch_size], continuations[i:i + batch_size]
        p_ids = [tok(p, add_special_tokens=True)["input_ids"] for p in ps]
        f_ids = [tok(p + c, add_special_tokens=True)["input_ids"] for p, c in zip(ps, cs)]
        ctx = [f[:min(len(p), len(f))] for p, f in zip(p_ids, f_ids)]  # the prompt's tokens
        cont = [f[len(c):] for c, f in zip(ctx, f_ids)]  # the continuation's tokens
        rows = _shared_context_rows if share_prompts and all(ctx) else _full_rows
        sel, tgt, counts = rows(model, ctx, cont, pad)
        nll = token_nll(sel, weight, tgt, bias, cap)  # (N,), chunked over rows
        for chunk in torch.split(nll, counts):
            out.append(math.exp(float(chunk.mean())) if chunk.numel() else float("nan"))
    return out


def _full_rows(model: Any, ctx: list[list[int]], cont: list[list[int]], pad: int) -> Rows:
    """One right-padded forward of every prompt + continuation; the hidden states that predict
    a continuation token (a pair with an empty prompt cannot predict its first one)."""
    dev = model_device(model)
    full = [c + n for c, n in zip(ctx, cont)]
    width = max(len(f) for f in full)
    ids = torch.full((len(full), width), pad, dtype=torch.long)  # (B, T)
    mask = torch.zeros_like(ids)
    target_mask = torch.zeros_like(ids, dtype=torch.bool)
    for r, (c, f) in enumerate(zip(ctx, full)):
        ids[r, :len(f)] = torch.tensor(f)
        mask[r, :len(f)] = 1
        target_mask[r, len(c):len(f)] = True
    ids, mask, target_mask = ids.to(dev), mask.to(dev), target_mask.to(dev)
    hidden = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, d)
    tm = target_mask[:, 1:]  # (B, T-1): positions whose next token is a continuation token
    return hidden[:, :-1][tm], ids[:, 1:][tm], tm.sum(dim=1).tolist()


def _shared_context_rows(model: Any, ctx: list[list[int]], cont: list[list[int]],
                         pad: int) -> Rows:
    """Each distinct prompt (non-empty) once through the judge, left-padded; its cache copied
    to the pairs that share it, which then run their continuations (right-padded) from it."""
    dev = model_device(model)
    distinct, inv = distinct_rows([tuple(c) for c in ctx])
    inv = inv.to(dev)  # (B,)
    width = max(len(c) for c in distinct)
    ids = torch.full((len(distinct), width), pad, dtype=torch.long)  # (U, T), left-padded
    mask = torch.zeros_like(ids)
    for u, c in enumerate(distinct):
        ids[u, width - len(c):] = torch.tensor(c)
        mask[u, width - len(c):] = 1
    ids, mask = ids.to(dev), mask.to(dev)
    pos = left_positions(mask)  # (U, T)
    o = model.base_model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
    first = o.last_hidden_state[:, -1][inv]  # (B, d): predicts each continuation's first token
    n = max(len(c) for c in cont)
    tgt = torch.full((len(cont), max(n, 1)), pad, dtype=torch.long)  # (B, n) the targets
    valid = torch.zeros_like(tgt, dtype=torch.bool)
    for r, c in enumerate(cont):
        tgt[r, :len(c)] = torch.tensor(c, dtype=torch.long)
        valid[r, :len(c)] = True
    tgt, valid = tgt.to(dev), valid.to(dev)
    hidden = first[:, None]  # (B, 1, d)
    if n > 1:  # continuation tokens but the last, fed after the shared prompt's cache
        cache = o.cache
        cache.batch_select_indices(inv)
        step_mask = torch.cat([mask[inv], valid[:, :n - 1].long()], dim=1)  # (B, T + n - 1)
        step_pos = pos[inv][:, -1:] + 1 + torch.arange(n - 1, device=dev)  # (B, n - 1)
        h = model.base_model(input_ids=tgt[:, :n - 1], attention_mask=step_mask,
                             position_ids=step_pos, cache=cache, use_cache=True
                             ).last_hidden_state  # (B, n - 1, d)
        hidden = torch.cat([hidden, h], dim=1)  # (B, n, d): position j predicts token j
    return hidden[valid], tgt[valid], valid.sum(dim=1).tolist()
