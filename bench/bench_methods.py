"""Every method's generation cost against the plain LM, side by side in one process: the
efficiency table (the paper's "Computational Efficiency", trainable parameters and time ratio).

All arms decode the same prompts (``--samples`` each, ``--batch`` sequences per forward), with
the same seed and number of new tokens, through each method's ``sample`` inside its
``control`` (as ``lmsteer.generate.generate`` does). One warm-up each, then the median of
``--repeats`` rounds timed in rotating order (original, A, B, ...; A, B, ..., original; ...).
The control is entered outside the timed region, since a run enters it once for all its
batches; its one-off cost (e.g. folding a steer into the output matrix) is reported apart as
``setup_s``. Trained methods load their artifacts from the DAG's run folders.
Writes ``results/bench/methods-<model>.json``; the leaderboard's efficiency board reads it.

    python bench/bench_methods.py --model smollm2-135m --method lm_steer=results/runs/detox/\
smollm2-135m/lm_steer/steer --method prompting [--method pplm=DIR --param pplm:stepsize=0.02]
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

from _timing import PeakRSS, interleaved_medians, write_result
from lmsteer.cli_args import parse_params as _params
from lmsteer.data import load_prompts
from lmsteer.errors import LMSteerError
from lmsteer.methods import method_class
from lmsteer.models import load_model


def parse_methods(specs: list[str], params: list[str]) -> dict[str, tuple[str | None, dict]]:
    """``name[=artifact_dir]`` and ``name:key=value`` -> {name: (artifact, params)}."""
    out: dict[str, tuple[str | None, dict]] = {}
    for spec in specs:
        name, _, art = spec.partition("=")
        out[name] = (art or None, {})
    for p in params:
        name, _, kv = p.partition(":")
        if name not in out or not kv:
            raise SystemExit(f"--param {p!r}: expected METHOD:key=value for a --method given")
        out[name][1].update(_params([kv]))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--method", action="append", default=[],
                    help="NAME or NAME=ARTIFACT_DIR (repeat); 'original' is always timed")
    ap.add_argument("--param", action="append", default=[], help="METHOD:key=value (repeat)")
    ap.add_argument("--strength", action="append", default=[],
                    help="METHOD=value (default 1; lm_steer's config value belongs here)")
    ap.add_argument("--prompts", default="resources/data/rtp-challenging/toxic_prompts_1196.jsonl")
    ap.add_argument("--n-prompts", type=int, default=4)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--offline", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--out", help="default results/bench/methods-<model>.json")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    model, tok = load_model(a.model, offline=a.offline)
    prompts = load_prompts(Path(a.prompts), a.n_prompts, seed=0)
    strengths = {k: float(v) for k, v in (s.split("=", 1) for s in a.strength)}
    specs = {"original": (None, {}), **parse_methods(a.method, a.param)}
    methods, models = {}, {}
    for name, (art, params) in specs.items():
        # every arm gets its own in-memory copy of the LM (the plain one too, so that all arms
        # read weights laid out alike): a steer or LoRA attached at load must not slow down or
        # speed up another arm
        models[name] = copy.deepcopy(model)
        try:
            m = method_class(name).from_pretrained(Path(art) if art else None, models[name],
                                                   tok, **params)
        except LMSteerError as e:
            raise SystemExit(f"bench_methods: {name}: {e}") from e
        methods[name] = m

    def strength_of(name: str) -> float:
        return strengths.get(name, 0.0 if name == "original" else 1.0)

    def arm(name: str):
        """(control context, one timed decode): the method's control is entered outside the
        timed region (a folded steer folds once per run, not per batch); setup is timed apart."""
        m, s, lm = methods[name], strength_of(name), models[name]
        texts = [m.prompt_for(p["text"], s) for p in prompts for _ in range(a.samples)]
        chunks = [texts[i:i + a.batch] for i in range(0, len(texts), a.batch)]
        run = lambda: [m.sample(lm, tok, c, max_new_tokens=a.new_tokens,  # noqa: E731
                                seed=0) for c in chunks]
        return (lambda: m.control(lm, s)), run

    with PeakRSS() as rss:
        t = interleaved_medians({n: arm(n) for n in methods}, a.repeats)
    setup = {}
    for n, m in methods.items():  # entering and leaving the control once (e.g. fold/unfold)
        t0 = time.perf_counter()
        with m.control(models[n], strength_of(n)):
            pass
        setup[n] = time.perf_counter() - t0
    n_lm = sum(p.numel() for p in model.parameters())
    result = {
        "model": a.model, "task": "detox", "prompts": Path(a.prompts).name,
        "n_prompts": a.n_prompts, "samples": a.samples, "batch": a.batch,
        "new_tokens": a.new_tokens, "repeats": a.repeats, "torch_threads": 2,
        "lm_parameters": n_lm, "peak_rss_mb": rss.peak_mb,
        "methods": {n: {"seconds": round(t[n], 3), "ratio": round(t[n] / t["original"], 3),
                        "setup_s": round(setup[n], 3), "strength": strength_of(n),
                        "trainable_parameters": m.num_trainable_parameters()}
                    for n, m in methods.items()},
    }
    out = Path(a.out or f"results/bench/methods-{a.model}.json")
    write_result(result, str(out))
    width = max(map(len, methods))
    for n, r in result["methods"].items():
        sys.stderr.write(f"{n:<{width}}  {r['seconds']:8.2f} s  x{r['ratio']:.2f}  "
                         f"{r['trainable_parameters']:>12,} trainable\n")


if __name__ == "__main__":
    main()
