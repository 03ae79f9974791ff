"""Load a YAML config and validate it against the workflow's JSON Schema (defaults filled)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import ConfigError


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
    return cfg
