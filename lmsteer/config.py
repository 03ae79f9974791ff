"""Load a YAML config and validate it against the workflow's JSON Schema (defaults filled)."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import ConfigError, LMSteerError
from .names import resolve_config


TASKS = ("detox", "sentiment")
SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"


def with_defaults(cfg: dict[str, Any], schema_path: Path = SCHEMA) -> dict[str, Any]:
    """``cfg`` with the schema's defaults filled in (as Snakemake's validate does): top-level
    keys, and the keys of the sections ``cfg`` has (e.g. ``detox.selection.ppl_budget``), so
    the defaults live in the schema alone."""
    def fill(obj: dict[str, Any], props: dict[str, Any]) -> None:
        for key, prop in props.items():
            if "default" in prop:
                obj.setdefault(key, copy.deepcopy(prop["default"]))
            if isinstance(obj.get(key), dict) and "properties" in prop:
                fill(obj[key], prop["properties"])

    fill(cfg, yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))["properties"])
    return cfg


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
    """Every configured method exists in the registry; otherwise ConfigError naming it."""
    from .methods import METHODS, load_plugins

    load_plugins()
    for task in ("detox", "sentiment"):
        for name in ((cfg.get(task) or {}).get("methods") or {}):
            if name not in METHODS:
                raise ConfigError(f"{task}.methods.{name}: unknown method; valid: "
                                  f"{', '.join(sorted(METHODS))}")
    check_method_params(cfg)


def check_method_params(config: dict[str, Any]) -> None:
    """Every method's ``params`` (and the steer's ``train.params`` and per-model
    ``train_params``) are valid for its class: ConfigError naming the key otherwise."""
    from .methods import LMSteerMethod, method_class

    steer = LMSteerMethod.name
    for task in TASKS:
        sec = config.get(task) or {}
        checks = [(f"{task}.methods.{m}.params", m, e.get("params", {}))
                  for m, e in (sec.get("methods") or {}).items()]
        if sec.get("train"):
            checks.append((f"{task}.train.params", steer, sec["train"]["params"]))
        for model, o in (config.get("model_overrides") or {}).items():
            tp = (o if task == "detox" else o.get("sentiment", {})).get("train_params")
            if tp:
                checks.append((f"model_overrides.{model}.train_params", steer, tp))
        for where, method, params in checks:
            try:
                method_class(method).parse_params(params)
            except LMSteerError as e:
                raise ConfigError(f"invalid config at {where}: {e}") from e
