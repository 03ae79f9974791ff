"""Shared timing helper for the benchmark scripts."""
from __future__ import annotations

import contextlib
import threading
import statistics
import time
from typing import Callable, ContextManager


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """One warm-up call, then the median wall time of ``repeats`` calls (seconds)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def interleaved_medians(arms: dict[str, tuple[Callable[[], ContextManager], Callable[[], object]]],
                        repeats: int) -> dict[str, float]:
    """Median wall time per arm, timed in rotating rounds (A B C, B C A, ...) so that drift in
    the machine's speed hits every arm alike. Each arm is (context, fn): ``fn`` runs inside the
    arm's context (e.g. a folded steer), which is entered and left outside the timed region."""
    names = list(arms)
    for name in names:  # warm-up
        ctx, fn = arms[name]
        with ctx():
            fn()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            ctx, fn = arms[name]
            with ctx():
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    return {n: statistics.median(v) for n, v in times.items()}


no_context = contextlib.nullcontext


@contextlib.contextmanager
def swapped(owner: object, name: str, value: object):
    """``owner.name`` replaced by ``value`` inside the ``with`` block (a former code path as a
    bench arm), restored after."""
    saved = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, saved)


class PeakRSS:
    """Peak resident set size (MiB) of this process while the ``with`` block runs.

    ``ru_maxrss`` only ever grows over a process's life, so arms timed one after another in
    one process need a sampler: a thread reads VmRSS from /proc every ``interval`` seconds.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current_mb() -> float:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self.current_mb())
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakRSS":
        self.peak_mb = self.current_mb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = round(max(self.peak_mb, self.current_mb()), 1)


def write_result(res: dict, out: str) -> None:
    """Print ``res`` as JSON and write it to ``out`` (results/bench/*.json)."""
    import json
    from pathlib import Path
    text = json.dumps(res, indent=2)
    print(text)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def machine_info() -> dict:
    """CPU model, core count and the matrix-unit flags that decide bfloat16 vs. float32 speed
    (AVX-512 BF16, AMX): timings from two machines are only comparable with these beside.
    The records' ``provenance.machine`` (:func:`lmsteer.results.machine`), under the bench
    files' key names."""
    from lmsteer.results import machine
    m = machine()
    return {"cpu": m["cpu"], "cores": m["cpu_count"], "cpu_flags": m["cpu_flags"]}


NONTOXIC_PROMPTS = "resources/data/rtp-nontoxic/nontoxic_prompts_1200.jsonl"


def add_prompt_args(ap, *, out: str, repeats: int, model: str | None = "gemma3-270m",
                    new_tokens: bool = True) -> None:
    """The options of the benches that run ``--prompts`` RealToxicityPrompts prompts x
    ``--samples`` rows: --model (unless None), --prompts-file, --prompts, --samples,
    --new-tokens (if asked), --repeats, --out."""
    if model is not None:
        ap.add_argument("--model", default=model)
    ap.add_argument("--prompts-file", default=NONTOXIC_PROMPTS)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--samples", type=int, default=25)
    if new_tokens:
        ap.add_argument("--new-tokens", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=repeats)
    ap.add_argument("--out", default=out)


def prompt_rows(args) -> tuple[list[dict], list[str]]:
    """The seeded ``args.prompts`` prompts of ``args.prompts_file`` and their texts, each
    repeated ``args.samples`` times (one row per sample, as ``generate`` batches them)."""
    from lmsteer.data import load_prompts
    prompts = load_prompts(args.prompts_file, args.prompts, seed=0)
    return prompts, [p["text"] for p in prompts for _ in range(args.samples)]
