"""Shared timing helper for the benchmark scripts."""
from __future__ import annotations

import contextlib
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
