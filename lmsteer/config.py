"""Load a YAML config and validate it against the workflow's JSON Schema (defaults filled)."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import ConfigError
from .plan import resolve_config


def load_config(path: Path, schema_path: Path) -> dict[str, Any]:
    """Parse ``path``; a schema violation raises ConfigError naming the offending key."""
    try:
        cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read config ({e})") from e
    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    try:
        jsonschema.validate(cfg, schema)
    except jsonschema.ValidationError as e:
        key = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        raise ConfigError(f"{path}: invalid config at {key}: {e.message}") from e
    try:
        resolve_config(copy.deepcopy(cfg))  # NaN/inf, unsafe names, duplicate run names
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e
    return cfg


def check_methods(cfg: dict[str, Any]) -> None:
    """Every configured method exists in the registry and is marked ``train: true`` exactly
    when it is trained (lm_steer always is); otherwise ConfigError naming the method."""
    from .methods import METHODS, get_method

    get_method("original")  # registers the baselines
    for task in ("detox", "sentiment"):
        for name, spec in ((cfg.get(task) or {}).get("methods") or {}).items():
            if name not in METHODS:
                raise ConfigError(f"{task}.methods.{name}: unknown method; valid: "
                                  f"{', '.join(sorted(METHODS))}")
            marked = name == "lm_steer" or bool(spec.get("train", False))
            if marked != METHODS.get(name).needs_fit():
                raise ConfigError(f"{task}.methods.{name}: set train: "
                                  f"{str(not marked).lower()} ({name} "
                                  f"{'has a' if not marked else 'has no'} training step)")
