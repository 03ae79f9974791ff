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
    (AVX-512 BF16, AMX): timings from two machines are only comparable with these beside."""
    import os
    from lmsteer.precision import cpu_flags, cpu_model
    return {"cpu": cpu_model() or os.uname().machine, "cores": os.cpu_count(),
            "cpu_flags": sorted(cpu_flags() & {"avx2", "avx512_bf16", "amx_bf16", "amx_tile",
                                               "avx512f"})}
