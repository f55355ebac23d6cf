"""Typed, frozen configuration passed explicitly (no global settings)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Environment variable naming the data directory.
DATA_ENV = "PERPSCOPE_DATA"


def default_data_dir() -> Path:
    """The user data folder: ``$XDG_DATA_HOME/perpscope`` or ``~/.local/share/perpscope``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "perpscope"


def resolve_data_dir(explicit: str | Path | None = None) -> Path:
    """Data directory by precedence: explicit argument, ``$PERPSCOPE_DATA``, user data folder."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return default_data_dir()


@dataclass(frozen=True, slots=True)
class Settings:
    """Settings for one run.

    Attributes
    ----------
    data_dir : Path
        Root of the Parquet lake.
    chosen : bool
        Whether the user named it (``--data-dir`` or ``$PERPSCOPE_DATA``) rather than taking the default.
    """

    data_dir: Path
    chosen: bool = False

    @classmethod
    def from_env(cls, data_dir: str | Path | None = None) -> Settings:
        return cls(data_dir=resolve_data_dir(data_dir), chosen=bool(data_dir or os.environ.get(DATA_ENV)))
