"""``perpscope download``: fetch Binance public-archive files for a date range, verify, and import them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from perpscope.cli.common import console, err_console, fail
from perpscope.cli.common import data_dir as data_dir_of
from perpscope.ingest.importer import import_paths
from perpscope.store import Lake
from perpscope.venues.archive.download import (
    DEFAULT_BASE_URL,
    DownloadProgress,
    DownloadReport,
    DownloadRequest,
    download_archive,
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
) -> None:
    """Download Binance public-archive files (data.binance.vision), verify their SHA-256, import them.

    Missing days are listed as gaps; files that fail (checksum mismatch, server errors after retries)
    are listed as errors, and only errors make the exit status non-zero. Re-running skips verified
    files and resumes partial ones.
    """
    data_dir = data_dir_of(ctx)
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
    root = dest or data_dir / "archive"

    with _FilesProgress() as prog:
        task = prog.add_task(f"{dataset} {','.join(req.symbols)}", total=None)

        def on_progress(p: DownloadProgress) -> None:
            prog.update(task, total=p.files_total, completed=p.files_done, bytes=p.bytes_done)

        report = download_archive(req, root, base_url=base_url, progress=on_progress, workers=workers)
    _print_download(report, root)

    import_failed = 0
    if do_import and report.files:
        import_failed = _import(report.files, data_dir)
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


def _import(files: list[Path], data_dir: Path) -> int:
    """Import ``files`` into the store under ``data_dir``; returns the number of files that failed."""
    with _FilesProgress(show_bytes=False) as prog:
        task = prog.add_task("import", total=len(files))

        def on_file(done: int, total: int, path: Path) -> None:
            prog.update(task, completed=done, total=total)

        result = import_paths(files, Lake(data_dir), progress=on_file)
    added = result.rows_added()
    console().print(
        f"imported {len(result.imported)} files into {data_dir}: "
        + (", ".join(f"{n:,} {rec}" for rec, n in sorted(added.items())) or "no new rows")
    )
    for f in result.failed:
        err_console().print(f"[red]import failed:[/] {f.error}")
    return len(result.failed)
