"""Shared CLI plumbing: the run's settings from the typer context, a console, error exits."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from perpscope.core.config import Settings
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
    return Lake(settings(ctx).data_dir)


def data_dir(ctx: typer.Context) -> Path:
    return settings(ctx).data_dir


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` as an error and return the Exit to raise."""
    err_console().print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)
