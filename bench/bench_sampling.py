"""Side-by-side: Hugging Face generate() (full-sort top-p) vs. our KV-cache loop with the exact
partial-top-k nucleus sampler. Same model, prompts, batch and seed, in one process; warm-up,
then the median of several repeats. Writes results/bench/sampling.json.

    python bench/bench_sampling.py [--models smollm2-135m gemma3-270m] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from _timing import median_time
from lmsteer.data import load_prompts
from lmsteer.generate import sample_batch
from lmsteer.models import load_model
from lmsteer.sampling import sample_top_p


def bench_model(name: str, prompts: list[str], samples: int, new: int, repeats: int) -> dict:
    from transformers import GenerationConfig

    model, tok = load_model(name)
    texts = [p for p in prompts for _ in range(samples)]
    enc = tok(texts, return_tensors="pt", padding=True)
    cfg = GenerationConfig(do_sample=True, top_p=0.9, top_k=0, max_new_tokens=new,
                           pad_token_id=tok.pad_token_id,
                           eos_token_id=tok.eos_token_id)

    def hf():
        torch.manual_seed(0)
        model.generate(**enc, generation_config=cfg)

    def ours():
        sample_batch(model, tok, texts, max_new_tokens=new, top_p=0.9, seed=0)

    t_hf, t_ours = median_time(hf, repeats), median_time(ours, repeats)
    vocab = model.get_output_embeddings().weight.shape[0]
    with torch.no_grad():  # real next-token logits of the prompts (B, V): peaked, as in decoding
        logits = model(**enc, logits_to_keep=1).logits[:, -1].float()
    from transformers.generation.logits_process import TopPLogitsWarper
    warper = TopPLogitsWarper(0.9)

    def sort_step():
        torch.multinomial(torch.softmax(warper(None, logits.clone()), dim=-1), 1)

    def topk_step():
        sample_top_p(logits, 0.9)

    s_sort, s_topk = median_time(sort_step, repeats), median_time(topk_step, repeats)
    return {"model": name, "vocab": vocab, "batch": len(texts), "new_tokens": new,
            "hf_generate_s": round(t_hf, 3), "ours_s": round(t_ours, 3),
            "generate_speedup": round(t_hf / t_ours, 2),
            "sampler_step_full_sort_s": round(s_sort, 4), "sampler_step_topk_s": round(s_topk, 4),
            "sampler_speedup": round(s_sort / s_topk, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"])
    ap.add_argument("--prompts", default="resources/data/rtp-challenging/toxic_prompts_1196.jsonl")
    ap.add_argument("--n-prompts", type=int, default=4)
    ap.add_argument("--samples", type=int, default=25)
    ap.add_argument("--new-tokens", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="results/bench/sampling.json")
    a = ap.parse_args()
    torch.set_num_threads(2)
    prompts = [p["text"] for p in load_prompts(Path(a.prompts), a.n_prompts, seed=0)]
    rows = [bench_model(m, prompts, a.samples, a.new_tokens, a.repeats) for m in a.models]
    for r in rows:
        print(f"{r['model']:>14}: generate() {r['hf_generate_s']:.2f}s vs ours {r['ours_s']:.2f}s "
              f"-> {r['generate_speedup']:.2f}x | one sampling step over {r['vocab']} tokens: "
              f"full sort {r['sampler_step_full_sort_s'] * 1e3:.0f} ms vs top-k "
              f"{r['sampler_step_topk_s'] * 1e3:.0f} ms -> {r['sampler_speedup']:.1f}x")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"torch_threads": 2, "results": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
