"""The chunked head loss (lmsteer.headloss.token_nll) vs. the plain full-logit cross-entropy.

Two places pay for the frozen output matrix at every training step, timed side by side in
one process (interleaved rounds, median of ``--repeats``):

- **steer step** (``train_steer``): ``--rows`` cached hidden-state rows (default 340, 16
  examples of the measured ~21 tokens) through the steer and the head, loss + backward; the
  plain arm is the loss the library used before (``linear`` then ``cross_entropy``), for each
  head dtype of ``--head-dtypes`` (config ``head_dtype``; default float32, and bfloat16 where
  the CPU computes it natively, lmsteer.precision); a third arm runs the chunked loss with
  the former fixed 64-row chunk against the memory-sized default, and a fourth with a fresh
  (C, V) allocation per chunk (``reuse=False``, as before the kept buffers) against the
  library's reused ones; both are checked to give the library's loss and gradient bit for bit.
- **fine-tune step** (DAPT, LoRA, DExperts, GeDi): one forward + backward of the real LM
  with its top 2 blocks trainable on a batch of ``--batch`` texts; the plain arm forms the
  (B, T, V) logits of every position, pads included, as ``lm_loss`` did before.
- **judge batch** (scoring): conditional perplexity of 16 prompt + 20-token continuations
  under the LM loaded in ``--judge-dtype`` (the config's ``judge_dtype``), plain (the head on
  every continuation position at once, then ``cross_entropy``) against the chunked loss.

Writes results/bench/headloss.json.

    python bench/bench_headloss.py [--model gemma3-270m] [--repeats 5]
"""
from __future__ import annotations

import argparse
import functools

import torch
from torch import nn

from _timing import (PeakRSS, interleaved_medians, machine_info, no_context, swapped,
                     write_result)
from baselines.finetune import lm_loss, only_trainable, top_block_parameters
from lmsteer import train
from lmsteer.headloss import default_chunk
from lmsteer.models import load_model
from lmsteer.precision import is_native
from lmsteer.scoring import fluency
from lmsteer.steer import Steer, SteerConfig
from lmsteer.train import steer_loss

TEXTS = [  # tweet-length texts of mixed length, as the detox and sentiment training sets
    "this is a fairly ordinary sentence about the weather in the city today",
    "short one", "thanks for the follow, have a great day",
    "a much longer text that goes on and on about many things, places and people, with "
    "commas, clauses and more words than usual in a post of this kind on the site",
]


def plain_steer_loss(steer, hidden, values, target, head_w):
    steered = steer.steer_hidden(hidden, values)  # (N, d)
    logits = nn.functional.linear(steered.to(head_w.dtype), head_w)  # (N, V)
    return nn.functional.cross_entropy(logits.float(), target)


def patched_steer_loss(model, steer, hidden, values, target, head_w, **token_nll_kw):
    """The library's steer_loss with token_nll's keywords swapped in: ``chunk=64`` (the former
    fixed chunk; the default is sized by memory) or ``reuse=False`` (a fresh (C, V) allocation
    per chunk, as before the kept buffers)."""
    with swapped(train, "token_nll", functools.partial(train.token_nll, **token_nll_kw)):
        return steer_loss(model, steer, hidden, values, target, head_w)


chunk64_steer_loss = functools.partial(patched_steer_loss, chunk=64)
fresh_steer_loss = functools.partial(patched_steer_loss, reuse=False)


def plain_lm_loss(model, tok, texts, max_length):
    """The fine-tune loss as it was: full (B, T, V) logits, pads ignored."""
    tok.padding_side = "right"
    enc = tok(list(texts), return_tensors="pt", padding=True, truncation=True,
              max_length=max_length)
    logits = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
    target = enc["input_ids"][:, 1:].masked_fill(enc["attention_mask"][:, 1:] == 0, -100)
    return nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), target.flatten())


def plain_token_nll(hidden, weight, target, bias=None, softcap=None, chunk=None):
    """What the judge computed before: the head on all rows at once, then cross_entropy
    (rows cast to the matrix's dtype, as token_nll does; a no-op in the judge arm)."""
    logits = nn.functional.linear(hidden.to(weight.dtype), weight, bias).float()  # (N, V)
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return nn.functional.cross_entropy(logits, target, reduction="none")


def time_judge(args) -> dict:
    """fluency.conditional_perplexity with the chunked loss and with the plain one swapped in."""
    judge, tok = load_model(args.model, dtype=args.judge_dtype)
    prompts = (TEXTS * 4)[:16]
    conts = [" and then the rest of the story went on for a while, as these stories often do"
             " in the end"] * 16
    chunked = fluency.token_nll

    def run(fn):
        with swapped(fluency, "token_nll", fn):
            return fluency.conditional_perplexity(judge, tok, prompts, conts, batch_size=16,
                                                  progress=False)

    a, b = run(plain_token_nll), run(chunked)
    t = interleaved_medians({"plain": (no_context, lambda: run(plain_token_nll)),
                             "chunked": (no_context, lambda: run(chunked))}, args.repeats)
    t["max_rel_diff"] = float(max(abs(x - y) / x for x, y in zip(a, b)))
    t["dtype"] = str(next(judge.parameters()).dtype).replace("torch.", "")  # auto resolved
    return t


def ratios(t: dict[str, float], dtypes: list[str]) -> dict[str, float]:
    """Side-by-side ratios of the steer arms: plain and 64-row chunks over the sized chunk per
    dtype, and bfloat16 over float32 where both ran."""
    out = {}
    for dt in dtypes:
        out[f"plain_over_chunked_{dt}"] = round(t[f"steer_plain_{dt}"]
                                                / t[f"steer_chunked_{dt}"], 2)
        out[f"chunk64_over_chunked_{dt}"] = round(t[f"steer_chunk64_{dt}"]
                                                  / t[f"steer_chunked_{dt}"], 2)
        out[f"fresh_over_chunked_{dt}"] = round(t[f"steer_fresh_{dt}"]
                                                / t[f"steer_chunked_{dt}"], 2)
    if {"float32", "bfloat16"} <= set(dtypes):
        out["bfloat16_over_float32_chunked"] = round(t["steer_chunked_bfloat16"]
                                                     / t["steer_chunked_float32"], 2)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--rows", type=int, default=340, help="hidden-state rows per steer step")
    ap.add_argument("--rank", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16, help="texts per fine-tune step")
    ap.add_argument("--judge-dtype", default="auto", help="as the config's judge_dtype")
    ap.add_argument("--head-dtypes", type=lambda x: x.split(","), default=None,
                    help="comma-separated head dtypes of the steer arms (default: float32, and "
                         "bfloat16 where native: emulated, its steps take minutes; "
                         "bench/bench_dtype.py)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="results/bench/headloss.json")
    args = ap.parse_args(argv)
    args.head_dtypes = args.head_dtypes or ["float32"] + (["bfloat16"] if is_native("bfloat16")
                                                          else [])
    model, tok = load_model(args.model)
    head = model.get_output_embeddings()
    v, d = head.weight.shape
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(args.rows, d, generator=g) * 3  # (N, d)
    target = torch.randint(v, (args.rows,), generator=g)
    values = torch.stack([torch.where(torch.rand(args.rows, generator=g) < .5, -1., 1.),
                          torch.ones(args.rows)], 1)  # (N, 2)
    steer = Steer(SteerConfig(rank=args.rank, hidden_size=d), seed=0).attach(model)

    def step(fn):
        steer.projector1.grad = steer.projector2.grad = None
        fn().backward()

    arms = {}
    for dt in args.head_dtypes:
        w = steer.base_head.weight.detach().to(getattr(torch, dt))  # (V, d)
        arms[f"steer_plain_{dt}"] = (no_context, lambda w=w: step(
            lambda: plain_steer_loss(steer, hidden, values, target, w)))
        arms[f"steer_chunked_{dt}"] = (no_context, lambda w=w: step(
            lambda: steer_loss(model, steer, hidden, values, target, w)))
        arms[f"steer_chunk64_{dt}"] = (no_context, lambda w=w: step(
            lambda: chunk64_steer_loss(model, steer, hidden, values, target, w)))
        arms[f"steer_fresh_{dt}"] = (no_context, lambda w=w: step(
            lambda: fresh_steer_loss(model, steer, hidden, values, target, w)))
    steer_t = interleaved_medians(arms, args.repeats)
    same, same_fresh = [], []  # the chunk size and the buffers change no number (bit for bit)
    for dt in args.head_dtypes:
        w = steer.base_head.weight.detach().to(getattr(torch, dt))
        grads = []
        for fn in (steer_loss, chunk64_steer_loss, fresh_steer_loss):
            steer.projector1.grad = steer.projector2.grad = None
            loss = fn(model, steer, hidden, values, target, w)
            loss.backward()
            grads.append((loss.detach(), steer.projector1.grad.clone()))
        same.append(all(torch.equal(a, b) for a, b in zip(grads[0], grads[1])))
        same_fresh.append(all(torch.equal(a, b) for a, b in zip(grads[0], grads[2])))
    steer.detach()

    texts = (TEXTS * args.batch)[:args.batch]
    params = top_block_parameters(model, 2)
    model.train()
    ft_t, rss = {}, {}
    with only_trainable(model, list(params.values())):
        for name, fn in (("plain", plain_lm_loss), ("chunked", lm_loss)):
            with PeakRSS() as peak:
                fn(model, tok, texts, 48).backward()
            rss[name] = peak.peak_mb
        ft_t = interleaved_medians(
            {n: (no_context, lambda fn=fn: fn(model, tok, texts, 48).backward())
             for n, fn in (("plain", plain_lm_loss), ("chunked", lm_loss))}, args.repeats)
    model.eval()
    judge_t = time_judge(args)
    res = {
        "model": args.model, "vocab": v, "hidden": d, "torch_threads": torch.get_num_threads(),
        **machine_info(), "repeats": args.repeats,
        "steer_step": {"rows": args.rows, "rank": args.rank, "head_dtypes": args.head_dtypes,
                       **{f"{k}_s": round(t, 3) for k, t in steer_t.items()},
                       **ratios(steer_t, args.head_dtypes),
                       "chunk_rows": default_chunk(v), "chunk_sizes_bit_identical": all(same),
                       "kept_buffers_bit_identical": all(same_fresh)},
        "finetune_step": {"texts": args.batch, "top_blocks": 2,
                          "plain_s": round(ft_t["plain"], 3), "chunked_s": round(ft_t["chunked"], 3),
                          "plain_over_chunked": round(ft_t["plain"] / ft_t["chunked"], 2),
                          "peak_rss_mb": rss},
        "judge_batch": {"pairs": 16, "dtype": judge_t["dtype"],
                        "plain_s": round(judge_t["plain"], 3),
                        "chunked_s": round(judge_t["chunked"], 3),
                        "plain_over_chunked": round(judge_t["plain"] / judge_t["chunked"], 2),
                        "max_rel_diff": judge_t["max_rel_diff"]},
    }
    write_result(res, args.out)


if __name__ == "__main__":
    main()
