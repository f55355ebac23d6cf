"""Shared CLI plumbing: the run's settings from the typer context, a console, error exits."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from perpscope.core.config import DATA_ENV, Settings

if TYPE_CHECKING:
    from perpscope.store import Lake


def console() -> Console:
    """A console for standard output, sized to the terminal (or ``$COLUMNS``) at the time of the call."""
    return Console()


def err_console() -> Console:
    """A console for standard error (progress, warnings, errors)."""
    return Console(stderr=True)


def settings(ctx: typer.Context) -> Settings:
    """Settings created by the root callback (``--data-dir``)."""
    obj = ctx.find_root().obj or {}
    s = obj.get("settings")
    return s if isinstance(s, Settings) else Settings.from_env(None)


def lake(ctx: typer.Context) -> Lake:
    """The store named by ``--data-dir`` / ``$PERPSCOPE_DATA`` / the default, as it is: what commands
    that write (import, download, collect) use."""
    from perpscope.store import Lake, open_lake  # here: a command's --help needs no polars

    s = settings(ctx)
    return open_lake(s.url) if s.url else Lake(s.data_dir)


#: Where ``perpscope demo`` leaves its store (its ``--out`` default, then ``data``).
DEMO_STORE = Path("perpscope-demo") / "data"


def reading_lake(ctx: typer.Context) -> Lake:
    """The store a command that only reads should read, found the way a new user expects:

    - the named folder when it holds a store;
    - its ``data`` folder when that holds one (``--data-dir perpscope-demo`` for ``perpscope-demo/data``);
    - with nothing named and no store at the default place, the demo's store in this folder;

    each substitution said on standard error. A named folder that does not exist is an error.
    """
    from perpscope.store import Lake, open_lake

    s = settings(ctx)
    if s.url:  # an object store is read as named: there is no folder beside it to try
        return open_lake(s.url)
    d = s.data_dir
    if s.chosen and not d.exists():
        raise fail(
            f"the data directory {d} does not exist (--data-dir or ${DATA_ENV}); `perpscope demo` makes one"
        )
    if Lake(d).records_present():
        return Lake(d)
    found = [(d / "data", f"{d} holds no store but {d / 'data'} does: reading it")]
    if not s.chosen:  # a folder the user named is never swapped for the demo's
        found.append(
            (DEMO_STORE, f"no store at {d}: reading the demo's store {DEMO_STORE} (--data-dir: another)")
        )
    for other, why in found:
        if Lake(other).records_present():
            err_console().print(f"[dim]note: {why}[/]")
            return Lake(other)
    return Lake(d)


def data_dir(ctx: typer.Context) -> Path:
    return settings(ctx).data_dir


def side_dir(ctx: typer.Context) -> Path:
    """The local folder for what a command keeps beside the store (a collector's status, downloaded
    archive files): the data directory, or for an ``s3://`` lake a folder of this machine's
    (:func:`perpscope.store.location.local_side_dir`)."""
    from perpscope.store.location import local_side_dir

    s = settings(ctx)
    return local_side_dir(s.url or s.data_dir)


def where(ctx: typer.Context) -> str:
    """The store as the user named it, for messages: its folder, or its ``s3://`` URL."""
    s = settings(ctx)
    return s.url or str(s.data_dir)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` as an error and return the Exit to raise."""
    err_console().print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)
