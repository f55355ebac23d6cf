"""Typed, frozen configuration passed explicitly (no global settings)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Environment variable naming the data directory.
DATA_ENV = "PERPSCOPE_DATA"
#: Environment variable naming the team's shared real-data folder (default: ``shared/data`` beside the
#: project checkout; provenance in its ``SOURCES.md``).
SHARED_ENV = "PERPSCOPE_SHARED_DATA"


def shared_data_dir() -> Path | None:
    """The team's shared real data: ``$PERPSCOPE_SHARED_DATA``, else ``shared/data`` beside the project
    checkout (the folder holding ``src/perpscope``), when it holds ``SOURCES.md``; None otherwise (an
    installed package has no such neighbour). Used by the demo's 10 Oct chapter, the tests and the
    benchmarks."""
    env = os.environ.get(SHARED_ENV)
    checkout = Path(__file__).resolve().parents[3]
    cand = Path(env) if env else checkout.parent / "shared" / "data"
    return cand if (cand / "SOURCES.md").is_file() else None


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
    url : str or None
        The lake's URL when it is on object storage (``s3://bucket/prefix``); ``data_dir`` is then the
        URL's key prefix, not a local folder.
    """

    data_dir: Path
    chosen: bool = False
    url: str | None = None

    @classmethod
    def from_env(cls, data_dir: str | Path | None = None) -> Settings:
        named = data_dir or os.environ.get(DATA_ENV)
        if isinstance(named, str) and named.startswith(OBJECT_SCHEMES):
            return cls(data_dir=Path(named.split("://", 1)[1]), chosen=True, url=named.rstrip("/"))
        return cls(data_dir=resolve_data_dir(data_dir), chosen=bool(named))


#: URL schemes of a lake on object storage (:mod:`perpscope.store.object_lake`).
OBJECT_SCHEMES = ("s3://",)


#: Environment variable naming a config file (instead of the ones :func:`config_paths` lists).
CONFIG_ENV = "PERPSCOPE_CONFIG"
#: The config file a project folder may hold (read before the user's).
LOCAL_CONFIG = "perpscope.toml"


def config_paths() -> list[Path]:
    """Where defaults are read from, first found wins: ``$PERPSCOPE_CONFIG``; else ``./perpscope.toml``
    then ``$XDG_CONFIG_HOME/perpscope/config.toml`` (``~/.config/perpscope/config.toml``)."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return [Path(env).expanduser()]
    home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [Path(LOCAL_CONFIG), Path(home) / "perpscope" / "config.toml"]


class ConfigFileError(ValueError):
    """A config file that cannot be read; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class UserConfig:
    """Defaults from a config file (``docs/config.md``)::

        data_dir = "~/perpscope-data"     # the store, below --data-dir and $PERPSCOPE_DATA
        [defaults]                        # any command's options, by their long name
        venue = "all"
        every = "1h"
        [metrics]                         # one command's (for a group: [store.info])
        rows = 40

    ``path`` is None when no file was found. Option names are the long option without dashes
    (``--liq-venue`` → ``liq_venue``); a command without that option ignores it.
    """

    path: Path | None = None
    data_dir: Path | None = None
    defaults: dict[str, object] | None = None
    commands: dict[str, dict[str, object]] | None = None

    def options(self, *command: str) -> dict[str, object]:
        """The defaults of ``command`` (``("metrics",)``, ``("store", "info")``): the ``[defaults]``
        table, then the group's table, then the command's."""
        out = dict(self.defaults or {})
        for i in range(1, len(command) + 1):
            out.update((self.commands or {}).get(".".join(command[:i]), {}))
        return out


#: Option names whose parameter is spelt differently in the code (``--format`` is ``fmt``).
_PARAM_NAMES = {"format": "fmt"}


def _options(table: object, where: str) -> dict[str, object]:
    if not isinstance(table, dict):
        raise ConfigFileError(f"{where}: expected a table of options, got {table!r}")
    out = {}
    for key, value in table.items():
        if isinstance(value, dict) or (
            isinstance(value, list) and not all(isinstance(v, str | int | float) for v in value)
        ):
            raise ConfigFileError(
                f"{where}: option {key!r} must be a string, number, true/false or a list of those"
            )
        name = key.replace("-", "_")
        out[_PARAM_NAMES.get(name, name)] = value
    return out


def load_user_config(paths: list[Path] | None = None) -> UserConfig:
    """The first config file of ``paths`` (default :func:`config_paths`) that exists, parsed.

    Raises
    ------
    ConfigFileError
        When the file is not valid TOML or a key has the wrong shape (the message names both).
    """
    import tomllib

    for p in paths if paths is not None else config_paths():
        if not p.is_file():
            continue
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigFileError(f"{p}: not valid TOML ({e})") from e
        data_dir = doc.pop("data_dir", None)
        if data_dir is not None and not isinstance(data_dir, str):
            raise ConfigFileError(f"{p}: data_dir must be a path in quotes, got {data_dir!r}")
        defaults = _options(doc.pop("defaults", {}), f"{p} [defaults]")
        commands: dict[str, dict[str, object]] = {}
        for name, table in doc.items():
            if not isinstance(table, dict):
                raise ConfigFileError(
                    f"{p}: {name} = {table!r}: options go in [defaults] or a command's table ([{name}] is "
                    "read as a command's)"
                )
            subs = {k: v for k, v in table.items() if isinstance(v, dict)}  # [store.info] nests in TOML
            commands[name] = _options({k: v for k, v in table.items() if k not in subs}, f"{p} [{name}]")
            for sub, t in subs.items():
                commands[f"{name}.{sub}"] = _options(t, f"{p} [{name}.{sub}]")
        return UserConfig(p, Path(data_dir).expanduser() if data_dir else None, defaults, commands)
    return UserConfig()
