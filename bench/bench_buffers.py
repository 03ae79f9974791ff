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
import contextlib

import torch

import lmsteer.sampling as sampling
from _timing import interleaved_medians, machine_info, no_context, write_result
from lmsteer.buffers import softmax_into
from lmsteer.data import load_prompts
from lmsteer.generate import sample_ids
from lmsteer.models import load_model


def fresh_softmax(logits: torch.Tensor, name: str = "probs") -> torch.Tensor:
    """The sampler's softmax as it was: a new (B, V) tensor per call."""
    return torch.softmax(logits, dim=-1)


@contextlib.contextmanager
def fresh_sampler():
    """``sample_top_p`` / ``nucleus_mask`` with the fresh softmax swapped in."""
    saved = sampling.softmax_into
    sampling.softmax_into = fresh_softmax
    try:
        yield
    finally:
        sampling.softmax_into = saved


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--prompts-file",
                    default="resources/data/rtp-nontoxic/nontoxic_prompts_1200.jsonl")
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--samples", type=int, default=25)
    ap.add_argument("--new-tokens", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="results/bench/buffers.json")
    args = ap.parse_args(argv)

    model, tok = load_model(args.model)
    prompts = load_prompts(args.prompts_file, args.prompts, seed=0)
    texts = [p["text"] for p in prompts for _ in range(args.samples)]
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
