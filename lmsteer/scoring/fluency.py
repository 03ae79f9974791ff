"""Conditional perplexity of a continuation given its prompt under a judge LM."""
from __future__ import annotations

import logging
import math
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from ..headloss import head_parts, token_nll
from ..models import model_device

log = logging.getLogger(__name__)


@torch.no_grad()
def conditional_perplexity(model: Any, tok: Any, prompts: Sequence[str],
                           continuations: Sequence[str], batch_size: int = 16,
                           progress: bool = True) -> list[float]:
    """exp(mean NLL of the continuation's tokens | prompt), one per pair; NaN if empty.

    Prompt and prompt+continuation are tokenised by the judge's own tokenizer; the tokens past
    the prompt's are the continuation's. Batches are right-padded.
    """
    out: list[float] = []
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    for i in tqdm(range(0, len(prompts), batch_size), desc="perplexity", disable=not progress,
                  leave=False):
        ps, cs = prompts[i:i + batch_size], continuations[i:i + batch_size]
        p_ids = [tok(p, add_special_tokens=True)["input_ids"] for p in ps]
        f_ids = [tok(p + c, add_special_tokens=True)["input_ids"] for p, c in zip(ps, cs)]
        width = max(len(f) for f in f_ids)
        ids = torch.full((len(f_ids), width), pad, dtype=torch.long)  # (B, T)
        mask = torch.zeros_like(ids)
        target_mask = torch.zeros_like(ids, dtype=torch.bool)
        for r, (p, f) in enumerate(zip(p_ids, f_ids)):
            ids[r, :len(f)] = torch.tensor(f)
            mask[r, :len(f)] = 1
            target_mask[r, min(len(p), len(f)):len(f)] = True
        dev = model_device(model)
        ids, mask, target_mask = ids.to(dev), mask.to(dev), target_mask.to(dev)
        hidden = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state  # (B, T, d)
        tm = target_mask[:, 1:]  # (B, T-1): positions whose next token is a continuation token
        sel = hidden[:, :-1][tm]  # (N, d) only where a continuation token is predicted
        weight, bias, cap = head_parts(model)
        nll = token_nll(sel, weight, ids[:, 1:][tm], bias, cap)  # (N,), chunked over rows
        counts = tm.sum(dim=1).tolist()
        for chunk in torch.split(nll, counts):
            out.append(math.exp(float(chunk.mean())) if chunk.numel() else float("nan"))
    return out
