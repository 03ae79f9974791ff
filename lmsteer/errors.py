"""The project's own error types: every user-facing failure is one of these."""
from __future__ import annotations


class LMSteerError(Exception):
    """Base class: the CLI prints the message on one line and exits non-zero."""


class RegistryError(LMSteerError, KeyError):
    """An unknown name was looked up in a registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(LMSteerError):
    """A configuration value is missing or invalid."""


class DataError(LMSteerError):
    """A data file is missing, corrupt (checksum) or malformed."""


class SteerLoadError(LMSteerError):
    """A saved steer cannot be loaded onto the given model."""


class ModelUnavailableError(LMSteerError):
    """A model cannot be loaded offline."""


class ScorerUnavailableError(LMSteerError):
    """A scorer's weights are not present on this machine."""


class TrainingError(LMSteerError):
    """Training diverged (NaN/inf loss) or cannot continue."""


class OutputBusyError(LMSteerError):
    """Another process is writing the same output."""
