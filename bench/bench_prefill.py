"""The prompt pass of generation: ``logits_to_keep=1`` vs. an index tensor for the last position.

Every ``generate`` job first runs its left-padded prompts (prompt x sample rows) through the
LM and keeps only the last position's logits. ``logits_to_keep=1`` keeps the view
``hidden[:, -1:]``, which is not contiguous for prompts longer than one token; torch's
``linear`` then falls back to one (1, d) x (d, V) product per row. The index tensor of
:func:`lmsteer.generate.last_position` copies the rows out first: one (B, d) x (d, V) product.
Timed side by side in one process (interleaved rounds, median of ``--repeats``):

- **prompt pass**: one forward of ``--prompts`` prompts x ``--samples`` samples, both ways;
- **generation batch**: the whole ``sample_ids`` call (prompt pass + ``--new-tokens`` decoding
  steps + sampling) with the old prompt pass patched back in, against the library's;
- **shared prompt pass**: the library's ``sample_ids`` with one prompt pass per row against
  ``share_prompts=True`` (one pass per distinct prompt, its cache copied to the prompt's
  ``--samples`` rows, as ``generate`` does for row-independent methods).

Also checks that every way samples the same token ids. Writes results/bench/prefill.json.

    python bench/bench_prefill.py [--model gemma3-270m] [--repeats 3]
"""
from __future__ import annotations

import argparse

import torch

import lmsteer.generate as gen
from _timing import (add_prompt_args, interleaved_medians, machine_info, no_context,
                     prompt_rows, swapped, write_result)
from lmsteer.models import load_model


def old_prompt_pass():
    """``sample_ids`` as it was: ``logits_to_keep=1`` (a slice) on the prompt pass."""
    return swapped(gen, "last_position", lambda ids: 1)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_prompt_args(ap, out="results/bench/prefill.json", repeats=3)
    args = ap.parse_args(argv)

    model, tok = load_model(args.model)
    prompts, texts = prompt_rows(args)
    enc = tok(texts, return_tensors="pt", padding=True)
    ids, mask = enc["input_ids"], enc["attention_mask"]  # (B, T), left-padded

    def prompt_pass(keep):
        def run():
            with torch.no_grad():
                return model(input_ids=ids, attention_mask=mask, use_cache=True,
                             logits_to_keep=keep).logits  # (B, 1, V)
        return run

    def sample(share: bool = False):
        return gen.sample_ids(model, tok, texts, max_new_tokens=args.new_tokens, seed=0,
                              share_prompts=share)

    a, b = prompt_pass(1)(), prompt_pass(gen.last_position(ids))()
    pass_t = interleaved_medians({"slice": (no_context, prompt_pass(1)),
                                  "index": (no_context, prompt_pass(gen.last_position(ids)))},
                                 args.repeats)
    gen_t = interleaved_medians({"slice": (old_prompt_pass, sample), "index": (no_context, sample),
                                 "shared": (no_context, lambda: sample(True))}, args.repeats)
    with old_prompt_pass():
        old_ids = sample()
    new_ids = sample()
    res = {
        "model": args.model, "batch": [len(prompts), args.samples], "prompt_tokens": ids.shape[1],
        "new_tokens": args.new_tokens, "repeats": args.repeats, "machine": machine_info(),
        "threads": torch.get_num_threads(),
        "prompt_pass_s": {k: round(v, 3) for k, v in pass_t.items()},
        "prompt_pass_speedup": round(pass_t["slice"] / pass_t["index"], 2),
        "generation_batch_s": {k: round(v, 3) for k, v in gen_t.items()},
        "generation_speedup": round(gen_t["slice"] / gen_t["index"], 2),
        "max_abs_logit_diff": float((a - b).abs().max()),
        "same_token_ids": bool(torch.equal(old_ids, new_ids)),
        "shared_prompt_speedup": round(gen_t["index"] / gen_t["shared"], 2),
        "same_token_ids_shared": bool(torch.equal(new_ids, sample(True))),
    }
    write_result(res, args.out)


if __name__ == "__main__":
    main()
