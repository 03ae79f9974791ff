"""float32 vs. bfloat16 (and float16) for the two products of a steer step, on this device.

A steer step on Gemma-3-270M is two products with its (V, d) = (262,144, 640) output matrix:
the logits ``linear(h, E)`` (rows, d) x (d, V), and the hidden-state gradient ``g @ E``
(rows, V) x (V, d) (lmsteer.headloss). Each is timed in every dtype, interleaved, median of
``--repeats``, on a ``--vocab`` slice of a random matrix (default 16,384 rows: emulated bfloat16
is slow enough that the full vocabulary would take minutes per call; GFLOPS do not depend on
the slice much). Prints and writes GFLOPS, each dtype's time over float32's, and what
``dtype: auto`` resolves to here (lmsteer.precision).

    python bench/bench_dtype.py [--vocab 16384] [--rows 256] [--out results/bench/dtype.json]
"""
from __future__ import annotations

import argparse
import logging

import torch

from _timing import interleaved_medians, machine_info, no_context, write_result
from lmsteer.precision import is_native, resolve_dtype

log = logging.getLogger("bench_dtype")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab", type=int, default=16384, help="rows of the output-matrix slice")
    ap.add_argument("--hidden", type=int, default=640, help="Gemma-3-270M's hidden size")
    ap.add_argument("--rows", type=int, default=256, help="hidden-state rows (one head chunk)")
    ap.add_argument("--dtypes", default="float32,bfloat16,float16")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="results/bench/dtype.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(0)
    w32 = torch.randn(args.vocab, args.hidden) / args.hidden ** 0.5  # (V, d)
    h32 = torch.randn(args.rows, args.hidden)  # (rows, d)
    g32 = torch.randn(args.rows, args.vocab).softmax(-1)  # (rows, V), as softmax - onehot
    arms = {}
    for name in args.dtypes.split(","):
        dt = getattr(torch, name)
        w, h, g = w32.to(dt), h32.to(dt), g32.to(dt)
        arms[f"{name}_logits"] = (no_context, lambda w=w, h=h: torch.nn.functional.linear(h, w))
        arms[f"{name}_grad"] = (no_context, lambda w=w, g=g: g @ w)
    times = interleaved_medians(arms, args.repeats)
    flop = 2 * args.rows * args.vocab * args.hidden
    res = {"vocab_slice": args.vocab, "hidden": args.hidden, "rows": args.rows,
           "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
           **machine_info(), "repeats": args.repeats,
           "auto_resolves_to": resolve_dtype("auto", "cpu"), "products": {}}
    for name in args.dtypes.split(","):
        row = {"native": is_native(name, "cpu")}
        for part in ("logits", "grad"):
            t = times[f"{name}_{part}"]
            row[f"{part}_s"] = round(t, 5)
            row[f"{part}_gflops"] = round(flop / t / 1e9, 1)
            row[f"{part}_over_float32"] = round(t / times[f"float32_{part}"], 2)
        res["products"][name] = row
        log.info("%-8s native=%-5s logits %7.1f GFLOPS (%.2fx float32's time)  "
                 "grad %7.1f GFLOPS (%.2fx)", name, row["native"], row["logits_gflops"],
                 row["logits_over_float32"], row["grad_gflops"], row["grad_over_float32"])
    log.info("dtype auto -> %s here", res["auto_resolves_to"])
    write_result(res, args.out)


if __name__ == "__main__":
    main()
