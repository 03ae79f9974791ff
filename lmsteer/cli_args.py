"""Argument types and helpers shared by the command lines (``lmsteer``, ``lmsteer analyze``,
bench scripts): a bad value is a one-line argparse error, never a traceback later on."""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, Sequence

import yaml

from .errors import LMSteerError
from .names import SAFE_NAME


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def finite_float(text: str) -> float:
    """argparse type: a finite number (NaN and inf are refused)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return v


def probability(text: str) -> float:
    """argparse type: a nucleus mass in (0, 1]."""
    v = finite_float(text)
    if not 0.0 < v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text!r}")
    return v


def safe_name(text: str) -> str:
    """argparse type: a name that may become part of a path (letters, digits, . _ -)."""
    if not SAFE_NAME.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a valid name (letters, digits, '.', '_', '-'; starting with a "
            "letter or digit)")
    return text


def parse_params(items: Sequence[str] | None) -> dict[str, Any]:
    """``key=value`` pairs (values parsed as YAML scalars) -> dict; NaN/inf refused."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise LMSteerError(f"--param expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        try:
            val = yaml.safe_load(v)
        except yaml.YAMLError as e:
            raise LMSteerError(f"--param {item!r}: not a valid value ({e.problem})") from e
        if isinstance(val, dict) and not v.lstrip().startswith("{"):
            val = v  # "be nice: " is text with a colon, not a mapping
        if isinstance(val, str):  # YAML 1.1 reads "1e-3" as a string; users mean a number
            try:
                val = float(val)
            except ValueError:
                pass
        if isinstance(val, float) and not math.isfinite(val):
            raise LMSteerError(f"--param {item!r}: must be a finite number")
        out[k.strip()] = val
    return out


def scorer_options(text: str | None) -> dict[str, dict]:
    """``--scorer-options`` YAML -> {scorer: {option: value}}; anything else is an error."""
    if not text:
        return {}
    try:
        opts = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise LMSteerError(f"--scorer-options: not valid YAML ({getattr(e, 'problem', e)})") from e
    if opts is None:
        return {}
    if not isinstance(opts, dict) or not all(isinstance(v, dict) for v in opts.values()):
        raise LMSteerError("--scorer-options must map each scorer name to a mapping of its "
                           "options, e.g. '{detoxify: {checkpoint: path}}'")
    return opts


def seed_all(seed: int) -> None:
    """Seed python, numpy and torch."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def output_paths(a: argparse.Namespace) -> list[Path]:
    """The outputs a verb writes (its ``locks`` default names the attributes), for locking."""
    paths = []
    for attr in getattr(a, "locks", ()):
        value = getattr(a, attr, None)
        if value:
            paths.append(Path(value))
    if getattr(a, "verb", None) == "leaderboard":
        paths = [Path(a.out_dir) / a.name]
    return paths
