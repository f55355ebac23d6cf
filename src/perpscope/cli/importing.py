"""``perpscope import``: bring files and folders into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from perpscope.cli.common import console, err_console, fail, lake
from perpscope.cli.output import print_report
from perpscope.ingest.importer import import_paths
from perpscope.venues.base import FileFormat
from perpscope.venues.registry import all_formats


def import_files(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders (searched recursively).")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="Use this format for every file instead of detecting it.")
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(
            "--mapping",
            help="A TOML column mapping for an export perpscope does not know (docs/import-formats.md).",
        ),
    ] = None,
    list_formats: Annotated[
        bool, typer.Option("--list-formats", help="List the known formats and exit.")
    ] = False,
) -> None:
    """Import files into the store. Each file imports whole or not at all; bad files are reported."""
    formats: list[FileFormat] = all_formats()
    if mapping is not None:
        from perpscope.venues.csv.mapping import MappedFormat

        try:
            user = MappedFormat.from_file(mapping)
        except Exception as exc:
            raise fail(str(exc)) from exc
        formats = [user, *formats]
        fmt = fmt or user.name
    if list_formats:
        t = Table("format", "what", header_style="bold")
        for f in formats:
            t.add_row(f.name, f.description)
        console().print(t)
        return
    if not paths:
        raise fail("name at least one file or folder to import")
    lk = lake(ctx)
    with Progress(
        TextColumn("[bold]importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console(),
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)

        def step(done: int, total: int, path: Path) -> None:
            bar.update(task, completed=done, total=total, description=path.name)

        try:
            report = import_paths(paths, lk, fmt=fmt, progress=step, formats=formats)
        except KeyError as exc:
            raise fail(str(exc.args[0])) from exc
    print_report(report)
    rec = report.recovery
    if rec.commits_completed or rec.temporaries_removed:
        console().print(
            f"[dim]store recovery:[/] {rec.commits_completed} interrupted commit(s) completed, "
            f"{rec.temporaries_removed} temporary file(s) of crashed writers deleted "
            f"({rec.bytes_removed:,} bytes)"
        )
    if report.rows_rejected():
        err_console().print(
            f"[bold red]rejected:[/] {report.rows_rejected():,} row(s) failed the checks at the boundary "
            "(their files were not imported; reasons above)"
        )
    if report.failed:
        raise typer.Exit(1)
