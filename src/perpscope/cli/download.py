"""``perpscope download``: fetch Binance public-archive files for a date range, verify, and import them.

The store may be a folder or an ``s3://`` lake; the zips go to a local folder either way (``--dest``,
default ``<data dir>/archive``, or for an ``s3://`` lake ``archive/`` in this machine's folder for it,
:func:`perpscope.store.location.local_side_dir`). ``--cluster`` fans the files out on Dask, each task
downloading and importing its own file (:mod:`perpscope.cluster.downloads`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from perpscope.cli.common import console, err_console, fail, lake, settings, side_dir, where
from perpscope.ingest.importer import ImportReport, import_paths
from perpscope.store import Lake
from perpscope.venues.archive.download import (
    DEFAULT_BASE_URL,
    DownloadProgress,
    DownloadReport,
    DownloadRequest,
    download_archive,
    plan_files,
)
from perpscope.venues.archive.layout import DATASETS, Segment

MARKETS: dict[str, Segment] = {"um": "um", "spot": "spot", "cm": "cm"}


def download(
    ctx: typer.Context,
    dataset: Annotated[
        str,
        typer.Option("--dataset", "-d", help=f"Archive dataset: {', '.join(DATASETS)}.", show_default=False),
    ],
    symbols: Annotated[
        str, typer.Option("--symbols", "-s", help="Binance symbols, comma-separated (BTCUSDT,ETHUSDT).")
    ],
    since: Annotated[str, typer.Option("--since", help="First UTC day (2024-01-01).", show_default=False)],
    until: Annotated[
        str | None, typer.Option("--until", help="Last UTC day, inclusive. Default: yesterday.")
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option("--interval", "-i", help="Bar interval for the kline datasets (1m, 5m, 1h...)."),
    ] = None,
    market: Annotated[
        str, typer.Option("--market", "-m", help="um (USDⓈ-M futures) or spot; cm for COIN-M liquidations.")
    ] = "um",
    dest: Annotated[
        Path | None,
        typer.Option("--dest", help="Where the zips go. Default: <data dir>/archive.", show_default=False),
    ] = None,
    base_url: Annotated[str, typer.Option("--base-url", help="Archive root URL.")] = DEFAULT_BASE_URL,
    monthly: Annotated[
        bool, typer.Option("--monthly/--daily", help="Use monthly files for whole months where published.")
    ] = False,
    do_import: Annotated[
        bool, typer.Option("--import/--no-import", help="Import the verified files into the store.")
    ] = True,
    workers: Annotated[int, typer.Option("--workers", min=1, max=16, help="Files fetched at once.")] = 4,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Download and import on Dask, one task per file: local[N] or tcp://host:8786 (--dest is "
            "a folder on each worker). Default: this process.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Download Binance public-archive files (data.binance.vision), verify their SHA-256, import them.

    Missing days are listed as gaps; files that fail (checksum mismatch, server errors after retries)
    are listed as errors, and only errors make the exit status non-zero. Re-running skips verified
    files and resumes partial ones.
    """
    try:
        seg = MARKETS[market.lower()]
        first = _day(since, "--since")
        last = _day(until, "--until") if until else (datetime.now(UTC).date() - timedelta(days=1))
        req = DownloadRequest(
            dataset=dataset,
            symbols=tuple(s.strip().upper() for s in symbols.split(",") if s.strip()),
            since=first,
            until=last,
            segment=seg,
            interval=interval,
            monthly=monthly,
        )
        req.validate()
    except KeyError:
        raise fail(f"--market must be one of {', '.join(MARKETS)}, got {market!r}") from None
    except ValueError as exc:
        raise fail(str(exc)) from None
    root = dest or side_dir(ctx) / "archive"
    if cluster is not None:
        report, imported = _on_cluster(ctx, req, root, base_url, do_import, cluster)
        _print_download(report, root)
        failed = _print_import(imported, where(ctx)) if imported is not None else 0
        if report.errors or failed:
            raise typer.Exit(1)
        return

    with _FilesProgress() as prog:
        task = prog.add_task(f"{dataset} {','.join(req.symbols)}", total=None)

        def on_progress(p: DownloadProgress) -> None:
            prog.update(task, total=p.files_total, completed=p.files_done, bytes=p.bytes_done)

        report = download_archive(req, root, base_url=base_url, progress=on_progress, workers=workers)
    _print_download(report, root)

    import_failed = 0
    if do_import and report.files:
        import_failed = _import(report.files, lake(ctx), where(ctx))
    if report.errors or import_failed:
        raise typer.Exit(1)


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{what}: expected a date like 2024-01-01, got {text!r}") from None


class _FilesProgress(Progress):
    """A progress bar showing files done/total (and bytes downloaded, with ``show_bytes``)."""

    def __init__(self, show_bytes: bool = True) -> None:
        cols = [
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} files"),
        ]
        if show_bytes:
            cols.append(TextColumn("{task.fields[bytes]:,} bytes"))
        super().__init__(*cols, TimeElapsedColumn(), console=err_console())

    def add_task(self, description: str, *args: Any, **fields: Any) -> TaskID:
        fields.setdefault("bytes", 0)
        return super().add_task(description, *args, **fields)


def _print_download(report: DownloadReport, root: Path) -> None:
    console().print(
        f"downloaded {len(report.written)} files ({report.bytes_downloaded:,} bytes), "
        f"{len(report.skipped)} already present, into {root}"
    )
    if report.gaps:
        t = Table(title=f"{len(report.gaps)} gaps (not in the archive)", show_lines=False)
        t.add_column("symbol")
        t.add_column("day/month")
        t.add_column("file")
        for g in report.gaps:
            t.add_row(g.symbol, g.label, g.path)
        console().print(t)
    if report.errors:
        t = Table(title=f"[red]{len(report.errors)} errors (nothing written for these)")
        t.add_column("file")
        t.add_column("problem")
        for e in report.errors:
            t.add_row(e.path, str(e.error))
        console().print(t)


def _import(files: list[Path], lk: Lake, shown: str) -> int:
    """Import ``files`` into the store ``lk`` (``shown``: how messages name it); returns the number of
    files that failed."""
    with _FilesProgress(show_bytes=False) as prog:
        task = prog.add_task("import", total=len(files))

        def on_file(done: int, total: int, path: Path) -> None:
            prog.update(task, completed=done, total=total)

        result = import_paths(files, lk, progress=on_file)
    return _print_import(result, shown)


def _print_import(result: ImportReport, shown: str) -> int:
    """Say what the import added to the store ``shown``; returns the number of files that failed."""
    added = result.rows_added()
    console().print(
        f"imported {len(result.imported)} files into {shown}: "
        + (", ".join(f"{n:,} {rec}" for rec, n in sorted(added.items())) or "no new rows")
    )
    for f in result.failed:
        err_console().print(f"[red]import failed:[/] {f.error}")
    return len(result.failed)


def _on_cluster(
    ctx: typer.Context, req: DownloadRequest, root: Path, base_url: str, do_import: bool, cluster: str
) -> tuple[DownloadReport, ImportReport | None]:
    """The download on Dask, one task per archive file (:mod:`perpscope.cluster.downloads`), a bar
    following the tasks; the reports of every task merged."""
    from perpscope.cluster.downloads import DownloadTask, run_download
    from perpscope.cluster.imports import merged
    from perpscope.cluster.runner import map_tasks, parse_cluster

    try:
        parse_cluster(cluster)
    except ValueError as e:
        raise fail(str(e)) from e
    location = settings(ctx).url or str(lake(ctx).root.resolve())  # workers open the store by this
    files = plan_files(req)
    tasks = [DownloadTask(location, str(root.resolve()), base_url, f, do_import) for f in files]
    with _FilesProgress(show_bytes=False) as prog:
        bar = prog.add_task(f"{req.dataset} {','.join(req.symbols)} on {cluster}", total=len(tasks))
        outcomes = map_tasks(
            run_download, tasks, [t.key for t in tasks], cluster, on_done=lambda _: prog.advance(bar)
        )
    report = DownloadReport.merged([o.download for o in outcomes])
    imports = [o.imported for o in outcomes if o.imported is not None]
    return report, (merged(imports) if do_import and report.files else None)
