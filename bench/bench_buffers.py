"""Top-p sampling with its (rows, vocabulary) probabilities in a kept buffer vs. a fresh tensor.

Every decoding step takes the softmax of a (batch, V) logits matrix, (100, 262k) float32 for a
Gemma batch. Allocated anew, that tensor is mapped afresh and the kernel faults in and zeroes
every 4 KiB page; :func:`lmsteer.buffers.softmax_into` writes it into a kept buffer with the same
kernel. (The head loss keeps its chunk tensors the same way: ``bench/bench_headloss.py``, "fresh"
arm.) Timed in one process, interleaved rounds, median of ``--repeats``:

- **softmax**: one softmax of real next-token logits (``--prompts`` x ``--samples`` rows),
  ``torch.softmax`` against ``softmax_into``; checked equal bit for bit;
- **generation batch**: ``sample_ids`` (shared prompt pass, ``--new-tokens`` tokens) with the
  fresh softmax patched into the sampler against the library's; checked to sample the same ids.

Writes results/bench/buffers.json.

    python bench/bench_buffers.py [--model gemma3-270m] [--repeats 5]
"""
from __future__ import annotations

import argparse

import torch

import lmsteer.sampling as sampling
from _timing import (add_prompt_args, interleaved_medians, machine_info, no_context,
                     prompt_rows, swapped, write_result)
from lmsteer.buffers import softmax_into
from lmsteer.generate import sample_ids
from lmsteer.models import load_model


def fresh_softmax(logits: torch.Tensor) -> torch.Tensor:
    """The sampler's softmax as it was: a new (B, V) tensor per call."""
    return torch.softmax(logits, dim=-1)


def fresh_sampler():
    """``sample_top_p`` / ``nucleus_mask`` with the fresh softmax swapped in."""
    return swapped(sampling, "softmax_into", fresh_softmax)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_prompt_args(ap, out="results/bench/buffers.json", repeats=5)
    args = ap.parse_args(argv)

    model, tok = load_model(args.model)
    prompts, texts = prompt_rows(args)
    with torch.no_grad():  # real next-token logits (B, V), one row per sample
        enc = tok(texts, return_tensors="pt", padding=True)
        logits = model(**enc, logits_to_keep=1).logits[:, -1].float().contiguous()

    def sample():
        with torch.no_grad():
            return sample_ids(model, tok, texts, max_new_tokens=args.new_tokens, seed=0,
                              share_prompts=True)

    same_probs = bool(torch.equal(fresh_softmax(logits), softmax_into(logits)))
    soft_t = interleaved_medians({"fresh": (no_context, lambda: fresh_softmax(logits)),
                                  "kept": (no_context, lambda: softmax_into(logits))},
                                 args.repeats * 4)
    gen_t = interleaved_medians({"fresh": (fresh_sampler, sample), "kept": (no_context, sample)},
                                args.repeats)
    with fresh_sampler():
        fresh_ids = sample()
    res = {
        "model": args.model, "vocab": logits.shape[1], "batch": [len(prompts), args.samples],
        "new_tokens": args.new_tokens, "repeats": args.repeats, "machine": machine_info(),
        "threads": torch.get_num_threads(),
        "softmax_s": {k: round(v, 4) for k, v in soft_t.items()},
        "softmax_speedup": round(soft_t["fresh"] / soft_t["kept"], 2),
        "same_probabilities": same_probs,
        "generation_batch_s": {k: round(v, 3) for k, v in gen_t.items()},
        "generation_speedup": round(gen_t["fresh"] / gen_t["kept"], 2),
        "same_token_ids": bool(torch.equal(fresh_ids, sample())),
    }
    write_result(res, args.out)


if __name__ == "__main__":
    main()
