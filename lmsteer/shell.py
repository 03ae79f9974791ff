"""Shell words of planned commands: every value from a config reaches a shell through these."""
from __future__ import annotations

import shlex
from typing import Any


def q(value: Any) -> str:
    """A value as one shell word."""
    return shlex.quote(str(value))


def param_flags(params: dict[str, Any], prefix: str = "") -> str:
    """{key: value} -> shell-quoted ``--param PREFIXkey=value`` flags, sorted by key."""
    return " ".join(f"--param {q(f'{prefix}{k}={v}')}" for k, v in sorted(params.items()))
