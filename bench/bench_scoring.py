"""Throughput of every registered scorer (texts/s at a fixed batch size), side by side.

Texts are real continuations from the DAG's generation files when they exist (else the RTP
challenging prompts), repeated up to ``--texts``. Each scorer is built once (its load time
reported separately), warmed up on one batch, then timed on all texts ``--repeats`` times in
rotating rounds; peak RSS is sampled per scorer. A scorer whose files are missing here (e.g.
detoxify without its checkpoint) is listed with the reason instead of a number. Writes
results/bench/scoring.json.

    python bench/bench_scoring.py [--batch 256] [--texts 2048] [--repeats 3]
"""
from __future__ import annotations

import argparse
import glob
import json
import time
from pathlib import Path

import torch

from _timing import PeakRSS, interleaved_medians, no_context, write_result
from lmsteer.data import load_prompts
from lmsteer.errors import LMSteerError
from lmsteer.scoring import SCORERS, get_scorer


def bench_texts(n: int) -> tuple[list[str], str]:
    """``n`` continuations from the committed run's generation files (or prompts)."""
    texts: list[str] = []
    files = sorted(glob.glob("results/runs/**/generations.jsonl", recursive=True))
    for f in files:
        with open(f, encoding="utf-8") as fh:
            texts += [json.loads(line)["continuation"] for line in fh if line.strip()]
    source = f"continuations from {len(files)} generation files under results/runs"
    if not texts:
        path = Path("resources/data/rtp-challenging/toxic_prompts_1196.jsonl")
        texts, source = [p["text"] for p in load_prompts(path)], str(path)
    return (texts * (n // len(texts) + 1))[:n], source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--texts", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="results/bench/scoring.json")
    a = ap.parse_args()
    torch.set_num_threads(2)
    texts, source = bench_texts(a.texts)
    scorers, load_s, rss, missing = {}, {}, {}, {}
    for name in SCORERS.names():
        t = time.perf_counter()
        with PeakRSS() as r:
            try:
                sc = get_scorer(name)
            except LMSteerError as e:
                missing[name] = str(e)
                continue
            sc.batch_size = a.batch
            sc.score(texts[:a.batch], progress=False)  # warm-up, and any lazy fitting
        scorers[name], load_s[name], rss[name] = sc, round(time.perf_counter() - t, 2), r
    arms = {n: (no_context, (lambda s=s: s.score(texts, progress=False)))
            for n, s in scorers.items()}
    times = interleaved_medians(arms, a.repeats)
    write_result({
        "texts": len(texts), "text_source": source, "batch": a.batch, "torch_threads": 2,
        "texts_per_s": {n: round(len(texts) / t, 1) for n, t in times.items()},
        "seconds": {n: round(t, 3) for n, t in times.items()},
        "load_and_warmup_s": load_s,
        "process_rss_mb_after_load": {n: r.peak_mb for n, r in rss.items()},
        "unavailable": missing,
    }, a.out)


if __name__ == "__main__":
    main()
