"""Batched, seeded top-p sampling: many samples of many prompts in one forward batch."""
from __future__ import annotations

import logging
from typing import Any, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from .methods import Method

log = logging.getLogger(__name__)


def sampling_config(tok: Any, max_new_tokens: int, top_p: float, temperature: float):
    """A fresh GenerationConfig, so nothing is inherited from the checkpoint's defaults."""
    from transformers import GenerationConfig

    return GenerationConfig(do_sample=True, top_p=top_p, top_k=0, temperature=temperature,
                            max_new_tokens=max_new_tokens, min_new_tokens=0,
                            repetition_penalty=1.0, num_beams=1,
                            pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)


@torch.no_grad()
def sample_batch(model: nn.Module, tok: Any, texts: Sequence[str], gen_cfg: Any,
                 seed: int) -> tuple[list[str], list[int]]:
    """Continuations (new tokens only, cut by tokens) of left-padded ``texts`` and their
    token counts (up to the first end-of-sequence token); seeded."""
    enc = tok(list(texts), return_tensors="pt", padding=True)
    torch.manual_seed(seed)
    out = model.generate(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                         generation_config=gen_cfg)  # (B, T + new)
    new = out[:, enc["input_ids"].shape[1]:]  # (B, <= max_new_tokens)
    ended = (new == gen_cfg.eos_token_id).int().cumsum(dim=1) > 0  # EOS and everything after
    return tok.batch_decode(new, skip_special_tokens=True), (~ended).sum(dim=1).tolist()


def generate(model: nn.Module, tok: Any, method: Method, prompts: Sequence[dict],
             strength: float, *, samples: int = 25, max_new_tokens: int = 20, top_p: float = 0.9,
             temperature: float = 1.0, batch_size: int = 100, seed: int = 0,
             meta: dict[str, Any] | None = None, progress: bool = True) -> list[dict]:
    """``samples`` continuations for each prompt under ``method`` at ``strength``.

    Prompts are packed so that one forward batch holds about ``batch_size`` sequences; each
    chunk's sampling seed depends only on ``seed`` and the chunk's first prompt, so a rerun
    (or a resumed run) reproduces the same text.
    """
    gen_cfg = sampling_config(tok, max_new_tokens, top_p, temperature)
    per_batch = max(1, batch_size // samples)
    rows: list[dict] = []
    meta = meta or {}
    with method.control(model, strength):
        for start in tqdm(range(0, len(prompts), per_batch), desc=f"generate {method.name}",
                          disable=not progress, unit="batch"):
            chunk = prompts[start:start + per_batch]
            texts = [p["text"] for p in chunk for _ in range(samples)]
            conts, lengths = sample_batch(model, tok, texts, gen_cfg, seed * 1_000_003 + start)
            for j, (c, n) in enumerate(zip(conts, lengths)):
                p = chunk[j // samples]
                rows.append({"prompt_id": p["id"], "prompt": p["text"], "sample": j % samples,
                             "continuation": c, "n_tokens": n, "method": method.name, "strength": strength,
                             "seed": seed, **meta})
    return rows
