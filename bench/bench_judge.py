"""The perplexity judge with and without the shared prompt pass, side by side.

Every ``score`` job has the judge LM read each prompt + continuation pair. A prompt's samples
share its tokens, so :func:`lmsteer.scoring.fluency.conditional_perplexity` runs each distinct
prompt of a batch once and continues its samples from that cache (``share_prompts=True``, the
default) instead of one right-padded forward per pair. Timed in one process on the same pairs
(``--prompts`` RealToxicityPrompts nontoxic prompts x ``--samples`` continuations of 20 tokens
sampled from ``--sampler``), interleaved rounds, median of ``--repeats``; also reports how far
the two ways' per-pair perplexities are apart (float rounding: ~1e-6 in float32, ~1% per pair
in bfloat16). Writes results/bench/judge.json.

    python bench/bench_judge.py [--judge gemma3-270m] [--judge-dtype auto] [--repeats 3]
"""
from __future__ import annotations

import argparse
import math

import torch

from _timing import (add_prompt_args, interleaved_medians, machine_info, no_context,
                     prompt_rows, write_result)
from lmsteer.generate import sample_batch
from lmsteer.models import load_model
from lmsteer.precision import resolve_dtype
from lmsteer.scoring.fluency import conditional_perplexity


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--judge", default="gemma3-270m")
    ap.add_argument("--judge-dtype", default="auto", help="as the config's judge_dtype")
    ap.add_argument("--sampler", default="smollm2-135m", help="the LM whose samples are judged")
    ap.add_argument("--batch", type=int, default=16, help="pairs per judge batch (the DAG's)")
    add_prompt_args(ap, out="results/bench/judge.json", repeats=3, model=None, new_tokens=False)
    args = ap.parse_args(argv)

    prompts, texts = prompt_rows(args)
    lm, tok = load_model(args.sampler)
    conts, _ = sample_batch(lm, tok, texts, max_new_tokens=20, seed=0, share_prompts=True)
    del lm
    dtype = resolve_dtype(args.judge_dtype, "cpu")
    judge, jtok = load_model(args.judge, dtype=dtype)

    def run(share: bool):
        return lambda: conditional_perplexity(judge, jtok, texts, conts, batch_size=args.batch,
                                              progress=False, share_prompts=share)

    t = interleaved_medians({"per_pair": (no_context, run(False)),
                             "shared": (no_context, run(True))}, args.repeats)
    full, shared = run(False)(), run(True)()
    rel = [abs(a - b) / a for a, b in zip(full, shared) if not math.isnan(a)]
    res = {"judge": args.judge, "dtype": dtype, "sampler": args.sampler,
           "pairs": [len(prompts), args.samples], "batch": args.batch, "repeats": args.repeats,
           "machine": machine_info(), "threads": torch.get_num_threads(),
           "judge_s": {k: round(v, 3) for k, v in t.items()},
           "shared_speedup": round(t["per_pair"] / t["shared"], 2),
           "max_rel_ppl_diff": float(max(rel)), "mean_rel_ppl_diff": float(sum(rel) / len(rel)),
           "mean_ppl": {"per_pair": sum(full) / len(full), "shared": sum(shared) / len(shared)}}
    write_result(res, args.out)


if __name__ == "__main__":
    main()
