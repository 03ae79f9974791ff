"""Steered vs. plain decoding cost, side by side in one process (SmolLM2-135M by default).

1. fixed steer value, folded into the output matrix, vs. plain generation;
2. a different steer value per sample in the batch (low-rank path) vs. plain generation;
3. our batched sampler (all samples of all prompts in one batch) vs. one ``generate()`` call
   per sample, as the original code does (samples/s, measured on a subset of prompts).

Same prompts, batch and seed for every arm; one warm-up each, then the median of ``--repeats``
timed in rotating rounds (plain, folded, per-sample; folded, per-sample, plain; ...).
Peak RSS is reported beside the times. Writes results/bench/generation.json.

    python bench/bench_generation.py [--model smollm2-135m] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import resource
from pathlib import Path

import torch

from _timing import interleaved_medians, median_time, no_context
from lmsteer.data import load_prompts
from lmsteer.generate import sample_batch
from lmsteer.methods import LMSteerMethod
from lmsteer.models import load_model
from lmsteer.steer import Steer, SteerConfig, output_matrix_sha256


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--steer", help="trained steer folder (default: a random steer of rank 256)")
    ap.add_argument("--prompts", default="resources/data/rtp-challenging/toxic_prompts_1196.jsonl")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--per-call-prompts", type=int, default=2,
                    help="prompts (x25 samples) timed with one generate() call per sample")
    ap.add_argument("--out", default="results/bench/generation.json")
    a = ap.parse_args()
    torch.set_num_threads(2)
    model, tok = load_model(a.model)
    prompts = [p["text"] for p in load_prompts(Path(a.prompts), 32, seed=0)]
    texts = (prompts * ((a.batch // len(prompts)) + 1))[:a.batch]
    d = model.get_output_embeddings().weight.shape[1]
    if a.steer:
        steer = Steer.load(a.steer, model)
    else:
        steer = Steer(SteerConfig(rank=256, hidden_size=d, base_model=a.model,
                                  base_sha256=output_matrix_sha256(model))).attach(model)
    method = LMSteerMethod()
    method.steer = steer
    run = lambda: sample_batch(model, tok, texts, max_new_tokens=a.new_tokens, seed=0)  # noqa: E731

    steer.set_values(None)
    sweep = torch.linspace(-5, 5, a.batch)
    t = interleaved_medians({
        "plain": (no_context, run),
        "folded": (lambda: method.control(model, 3.0), run),  # fold/unfold outside the timing
        "per_sample": (lambda: method.control(model, sweep), run),  # low-rank path
    }, a.repeats)
    t_plain, t_fold, t_sweep = t["plain"], t["folded"], t["per_sample"]

    samples = 25
    sub = prompts[:a.per_call_prompts]
    enc_one = [tok([p], return_tensors="pt") for p in sub]
    gen_kw = dict(do_sample=True, top_p=0.9, top_k=0, max_new_tokens=a.new_tokens,
                  pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)

    def per_call():
        torch.manual_seed(0)
        for enc in enc_one:
            for _ in range(samples):
                model.generate(**enc, **gen_kw)

    batched = lambda: sample_batch(model, tok, [p for p in sub for _ in range(samples)],  # noqa: E731
                                   max_new_tokens=a.new_tokens, seed=0)
    t_calls = median_time(per_call, 1)
    t_batched = median_time(batched, a.repeats)
    res = {
        "model": a.model, "steer": a.steer or "random rank-256 steer", "batch": a.batch, "new_tokens": a.new_tokens, "torch_threads": 2,
        "plain_s": round(t_plain, 3), "folded_s": round(t_fold, 3),
        "per_sample_values_s": round(t_sweep, 3),
        "folded_over_plain": round(t_fold / t_plain, 3),
        "per_sample_over_plain": round(t_sweep / t_plain, 3),
        "per_call_generate_s": round(t_calls, 3), "batched_s": round(t_batched, 3),
        "batched_speedup_vs_per_call": round(t_calls / t_batched, 2),
        "per_call_samples": len(sub) * samples,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(res, indent=2))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
