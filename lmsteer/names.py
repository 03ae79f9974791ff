"""Names in a config: safe run names and sources of models, and the check of a whole config.

Torch-free (the Snakefile imports it at parse time). Every name that becomes part of a path or
a shell word (a model's run name, a method name, a model override key) must match
:data:`SAFE_NAME`; a model entry is a registry name, a local folder, a hub id, or an explicit
``{name: ..., path: ...}`` mapping, and its *run name* is what results folders are called.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Iterator

from .errors import ConfigError

# letters, digits, '.', '_', '-'; starts with a letter or digit (so never '.', '..' or '-x')
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# a local folder or hub id: no shell metacharacters, no whitespace, no '..' component
SAFE_SOURCE = re.compile(r"^[A-Za-z0-9._/~+-]{1,4096}$")


def check_name(name: Any, where: str) -> str:
    """``name`` if it is a safe name, else ConfigError naming ``where`` and the rule."""
    if not isinstance(name, str) or not SAFE_NAME.match(name):
        raise ConfigError(f"{where}: {name!r} is not a valid name (letters, digits, '.', '_', "
                          "'-'; starting with a letter or digit)")
    return name


def _is_local(source: str) -> bool:
    return source.startswith(("/", "./", "../", "~")) or Path(source).expanduser().is_dir()


def check_source(source: Any, where: str) -> str:
    """A model's source (registry name, local folder or hub id) without shell metacharacters."""
    if not isinstance(source, str) or not SAFE_SOURCE.match(source) or \
            ".." in Path(source).parts and not _is_local(source):
        raise ConfigError(f"{where}: {source!r} is not a valid model name, folder or hub id "
                          "(letters, digits and . _ - / ~ + only)")
    if not _is_local(source) and source.count("/") > 1:
        raise ConfigError(f"{where}: {source!r} is neither a local folder nor a hub id "
                          "(org/name)")
    return source


def run_name(source: str) -> str:
    """The run name of a model given by its source: a registry name as it is, a local folder by
    its folder name, a hub id ``org/name`` by ``name``."""
    return Path(source.rstrip("/")).expanduser().name or source


def model_entries(models: list[Any], where: str = "models") -> dict[str, str]:
    """``models`` list of a config -> {run name: source}; run names unique and safe."""
    out: dict[str, str] = {}
    for i, entry in enumerate(models):
        at = f"{where}[{i}]"
        if isinstance(entry, dict):
            name = check_name(entry.get("name"), f"{at}.name")
            source = check_source(entry.get("path"), f"{at}.path")
        else:
            source = check_source(entry, at)
            name = check_name(run_name(source), f"{at} (its run name)")
        if name in out:
            raise ConfigError(f"{at}: run name {name!r} is used twice ({out[name]!r} and "
                              f"{source!r}); give one an explicit {{name: ..., path: ...}}")
        out[name] = source
    return out


def _numbers(obj: Any, path: str) -> Iterator[tuple[str, float]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _numbers(v, f"{path}.{k}" if path else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _numbers(v, f"{path}[{i}]")
    elif isinstance(obj, float):
        yield path, obj


def check_finite(cfg: Any) -> None:
    """Refuse NaN and infinite numbers anywhere (JSON Schema's bounds let NaN through)."""
    for path, v in _numbers(cfg, ""):
        if not math.isfinite(v):
            raise ConfigError(f"invalid config at {path}: {v} is not a finite number")


def _rename(refs: list[Any], names: dict[str, str]) -> list[Any]:
    return [names.get(r, r) if isinstance(r, str) else r for r in refs]


def resolve_config(cfg: dict[str, Any]) -> dict[str, str]:
    """Check ``cfg`` (schema-valid) for finite numbers and safe names, and rewrite its model
    references (``models``, methods' and analyses' ``models``, transfer pairs, override keys)
    from sources to run names, in place. Returns {run name: source}."""
    check_finite(cfg)
    sources = model_entries(cfg["models"])
    by_source = {s: n for n, s in sources.items()} | {n: n for n in sources}
    cfg["models"] = list(sources)
    for task in ("detox", "sentiment"):
        for meth, spec in ((cfg.get(task) or {}).get("methods") or {}).items():
            check_name(meth, f"{task}.methods")
            if isinstance(spec, dict) and "models" in spec:
                spec["models"] = _rename(spec["models"], by_source)
    for name, sec in (cfg.get("analysis") or {}).items():
        if isinstance(sec, dict) and "models" in sec:
            sec["models"] = _rename(sec["models"], by_source)
        if name == "transfer" and isinstance(sec, dict):
            sec["pairs"] = [_rename(p, by_source) for p in sec.get("pairs", [])]
    overrides = cfg.get("model_overrides") or {}
    for key in list(overrides):
        new = by_source.get(key, key)
        check_name(new, "model_overrides")
        overrides[new] = overrides.pop(key)
    if cfg.get("judge"):
        check_source(cfg["judge"], "judge")
    check_results_dir(cfg.get("results_dir", "results"))
    return sources


def check_results_dir(path: Any) -> str:
    """A results folder a rule may interpolate into a shell command: safe characters, no '..'."""
    if not isinstance(path, str) or not SAFE_SOURCE.match(path) or ".." in Path(path).parts:
        raise ConfigError(f"results_dir: {path!r} must be a folder path of letters, digits and "
                          ". _ - / ~ + (no '..')")
    return path
