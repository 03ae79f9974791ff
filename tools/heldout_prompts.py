"""Write a held-out prompt file: prompts that no evaluation sample of up to ``--exclude-n``
prompts (seed ``--seed``) can contain, for choosing steps or steer values without touching the
evaluation prompts. (``load_prompts`` samples are prefix-stable: the sample of n prompts is the
start of the sample of any larger n, so excluding the first 48 covers every n <= 48.)

    python tools/heldout_prompts.py --prompts resources/data/rtp-nontoxic/nontoxic_prompts_1200.jsonl \
        --out heldout.jsonl [--n 24]
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from lmsteer.data import load_prompts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=24, help="held-out prompts to write")
    ap.add_argument("--exclude-n", type=int, default=48)
    ap.add_argument("--seed", type=int, default=0, help="the evaluation's seed")
    a = ap.parse_args()
    path = Path(a.prompts)
    evaluated = {p["id"] for p in load_prompts(path, a.exclude_n, a.seed)}
    rest = [p for p in load_prompts(path) if p["id"] not in evaluated]
    with open(a.out, "w", encoding="utf-8") as f:
        for p in random.Random(a.seed + 1).sample(rest, a.n):
            f.write(json.dumps({"prompt": {"text": p["text"]}, "source_id": p["id"]}) + "\n")


if __name__ == "__main__":
    main()
