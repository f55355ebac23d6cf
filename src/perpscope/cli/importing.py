"""``perpscope import``: bring files and folders into the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from perpscope.cli.common import console, err_console, fail, lake, settings
from perpscope.cli.output import print_report
from perpscope.ingest.importer import ImportReport, import_paths, iter_files
from perpscope.store import Lake
from perpscope.venues.base import FileFormat
from perpscope.venues.registry import all_formats, format_named


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
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Import on Dask, one task per file: local[N] or tcp://host:8786 (every worker must see "
            "the files at the same path). Default: this process.",
            show_default=False,
        ),
    ] = None,
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
    if cluster is not None:
        report = _on_cluster(ctx, lk, paths, fmt, cluster, mapping)
    else:
        report = _here(lk, paths, fmt, formats)
    _print_outcome(report)


def _here(lk: Lake, paths: list[Path], fmt: str | None, formats: list[FileFormat]) -> ImportReport:
    """Import in this process, a progress bar following the files."""
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
            return import_paths(paths, lk, fmt=fmt, progress=step, formats=formats)
        except KeyError as exc:
            raise fail(str(exc.args[0])) from exc


def _on_cluster(
    ctx: typer.Context, lk: Lake, paths: list[Path], fmt: str | None, cluster: str, mapping: Path | None
) -> ImportReport:
    """Import on Dask, one task per file (:mod:`perpscope.cluster.imports`), a bar following the tasks;
    a ``mapping`` travels with each task as its text (the workers need not see the file)."""
    from perpscope.cluster.imports import ImportTask, Mapping, merged, run_import, task_formats
    from perpscope.cluster.runner import map_tasks, parse_cluster

    try:
        parse_cluster(cluster)
    except ValueError as e:
        raise fail(str(e)) from e
    sent = Mapping.read(mapping) if mapping is not None else None
    location = settings(ctx).url or str(lk.root.resolve())  # workers open the store by this
    if fmt is not None:
        try:  # the formats a worker will have, the mapping's among them
            format_named(fmt, task_formats(ImportTask(location, "", fmt, sent)))
        except KeyError as exc:
            raise fail(str(exc.args[0])) from exc
    files = [str(f.resolve()) for f in iter_files(paths)]
    tasks = [ImportTask(location, f, fmt, sent) for f in files]
    with Progress(
        TextColumn(f"[bold]importing on {cluster}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console(),
        transient=True,
    ) as bar:
        task = bar.add_task("", total=len(tasks))
        reports = map_tasks(
            run_import, tasks, [t.key for t in tasks], cluster, on_done=lambda _: bar.advance(task)
        )
    return merged(reports)


def _print_outcome(report: ImportReport) -> None:
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
