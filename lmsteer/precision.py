"""Which floating-point precision a device runs fast, and ``auto`` dtypes resolved by it.

bfloat16 halves the memory traffic of the big output products, but it is only faster where the
hardware computes bfloat16 dot products natively. Measured with torch 2.13 on 2-core CPUs
(CHANGELOG.md, "how long the spine took"): on an AVX2-only AMD EPYC (no AVX-512) the gradient product of a
steer step, (rows, V) @ (V, d), ran 136x slower in bfloat16 than in float32
(``bench/bench_dtype.py``), so a bfloat16 steer on Gemma would take days there; with AMX a
bfloat16 steer step is 2.1x faster than a float32 one (``bench/bench_headloss.py``). ``auto``
therefore picks bfloat16 only on a device with native bfloat16 (a CUDA GPU that supports it, a
CPU with AVX-512 BF16 or AMX-BF16) and float32 everywhere else.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from .errors import LMSteerError  # no torch at import: the CLI's --help stays fast

log = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "bfloat16", "float16")
NATIVE_FLAGS = {"bfloat16": {"avx512_bf16", "amx_bf16"}, "float16": {"avx512_fp16", "amx_fp16"}}


@lru_cache(maxsize=None)
def _cpuinfo(field: str) -> str:
    """The first ``field`` line's value in /proc/cpuinfo ('' where there is none, e.g. macOS)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.split(":", 1)[0].strip() == field:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    return frozenset(_cpuinfo("flags").split())


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ('' where there is none)."""
    return _cpuinfo("model name")


def is_native(dtype: str, device: Any = "cpu") -> bool:
    """Whether ``device`` (name or torch.device) computes ``dtype`` matrix products natively
    (float32 always does)."""
    import torch

    if dtype == "float32":
        return True
    if torch.device(device).type == "cuda":
        return dtype == "float16" or torch.cuda.is_bf16_supported(including_emulation=False)
    return bool(cpu_flags() & NATIVE_FLAGS.get(dtype, set()))


def resolve_dtype(dtype: str, device: Any = "cpu") -> str:
    """``auto`` -> ``bfloat16`` where :func:`is_native` says so, else ``float32``; any other
    valid name is returned as is (with a warning when ``device`` would emulate it)."""
    if dtype not in DTYPES:
        raise LMSteerError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    if dtype == "auto":
        dtype = "bfloat16" if is_native("bfloat16", device) else "float32"
        log.info("dtype auto -> %s on %s", dtype, device)
    elif not is_native(dtype, device):
        log.warning("%s is emulated on this %s (no native %s dot products): products can run "
                    "hundreds of times slower than float32; use dtype auto or float32",
                    dtype, device, dtype)
    return dtype
