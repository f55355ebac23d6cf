"""Import files into the store: find each file's format, parse it whole, write it idempotently.

A file that fails to parse is reported (file, row, problem) and contributes nothing; the other files
of the batch still import. Parsed frames are buffered and written per record in batches, so that
thirty daily files of one month rewrite that month's Parquet file once, not thirty times.
"""

from __future__ import annotations

import dataclasses
import os
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from perpscope.core.errors import InputError, NotImportable, PerpscopeError
from perpscope.records import RecordType
from perpscope.store import Lake, WriteResult
from perpscope.venues.base import FileFormat, Parsed
from perpscope.venues.registry import all_formats, format_named, sniff

#: File endings the importer looks at when walking folders.
DATA_SUFFIXES = (".zip", ".csv", ".gz")
#: Rows buffered before the buffered frames are written.
FLUSH_ROWS = 4_000_000
#: Files parsed at once. Unzipping and CSV parsing release the GIL, so threads use both cores.
PARSE_WORKERS = max(1, min(4, os.cpu_count() or 1))

Progress = Callable[[int, int, Path], None]


@dataclass
class FileResult:
    """Outcome for one input file."""

    path: Path
    format: str | None
    rows: dict[str, int] = field(default_factory=dict)  # record → rows parsed
    notes: tuple[str, ...] = ()
    error: str | None = None
    skipped: str | None = None  # recognized but not importable, with the reason


@dataclass
class ImportReport:
    """Outcome of one import: per file, and rows added per record."""

    files: list[FileResult] = field(default_factory=list)
    writes: list[WriteResult] = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.error]

    @property
    def skipped(self) -> list[FileResult]:
        return [f for f in self.files if f.skipped]

    @property
    def imported(self) -> list[FileResult]:
        return [f for f in self.files if not f.error and not f.skipped]

    def rows_added(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for w in self.writes:
            out[w.record] += w.rows_added
        return dict(out)

    def rows_parsed(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for f in self.imported:
            for k, v in f.rows.items():
                out[k] += v
        return dict(out)


def iter_files(paths: Iterable[Path]) -> list[Path]:
    """Files named, and data files (``.zip``, ``.csv``, ``.csv.gz``) found under folders named."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and _is_data(f)))
        else:
            out.append(p)
    return out


def _is_data(f: Path) -> bool:
    return f.suffix in DATA_SUFFIXES and not f.name.startswith(".") and ".part" not in f.suffixes


class _Buffer:
    def __init__(self, lake: Lake, report: ImportReport) -> None:
        self.lake = lake
        self.report = report
        self.frames: dict[str, tuple[RecordType, list[pl.DataFrame]]] = {}
        self.rows = 0

    def add(self, parsed: list[Parsed]) -> None:
        for p in parsed:
            self.frames.setdefault(p.record.name, (p.record, []))[1].append(p.frame)
            self.rows += p.frame.height
        if self.rows >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        for rt, frames in self.frames.values():
            if frames:
                self.report.writes.append(self.lake.write(rt, pl.concat(frames, how="vertical")))
        self.frames.clear()
        self.rows = 0


def import_paths(
    paths: Iterable[Path],
    lake: Lake,
    fmt: str | None = None,
    progress: Progress | None = None,
    formats: list[FileFormat] | None = None,
) -> ImportReport:
    """Import files and folders into ``lake``.

    Parameters
    ----------
    paths : iterable of Path
        Files, or folders searched recursively for ``.zip``/``.csv``/``.csv.gz`` files.
    lake : Lake
        The store to write to.
    fmt : str, optional
        Format name to use for every file instead of sniffing.
    progress : callable, optional
        Called as ``progress(done, total, path)`` after each file.
    formats : list of FileFormat, optional
        Formats to choose from (default: every built-in one), e.g. with a user's mapping added.

    Returns
    -------
    ImportReport
        Per-file outcome (errors name file, row and problem) and rows added per record.
    """
    files = iter_files(paths)
    fmts = formats if formats is not None else all_formats()
    forced = format_named(fmt, fmts) if fmt else None
    report = ImportReport()
    buf = _Buffer(lake, report)
    with ThreadPoolExecutor(max_workers=PARSE_WORKERS) as pool:
        outcomes = _prefetch(pool, files, lambda p: _parse_one(p, forced, fmts), ahead=PARSE_WORKERS + 1)
        for i, (result, parsed) in enumerate(outcomes, start=1):
            if parsed is not None:
                buf.add(parsed)
            report.files.append(result)
            if progress:
                progress(i, len(files), result.path)
    buf.flush()
    return report


def _parse_one(
    path: Path, forced: FileFormat | None, fmts: list[FileFormat]
) -> tuple[FileResult, list[Parsed] | None]:
    """Find the format of one file and parse it whole; errors become the file's result."""
    result = FileResult(path=path, format=None)
    try:
        if not path.exists():
            raise InputError(str(path), "no such file")
        f = forced or sniff(path, fmts)
        if f is None:
            raise InputError(
                str(path),
                "unrecognized file format",
                hint="name one with --format, or describe the columns in a mapping file (--mapping); "
                "`perpscope import --list-formats` lists the known ones",
            )
        result.format = f.name
        parsed = f.parse(path)
    except NotImportable as exc:
        result.skipped = str(exc)
        return result, None
    except PerpscopeError as exc:
        result.error = str(exc)
        return result, None
    parsed = [_stamp_source(p, file_source(f, path)) for p in parsed]
    for p in parsed:
        result.rows[p.record.name] = result.rows.get(p.record.name, 0) + p.frame.height
    result.notes = tuple(n for p in parsed for n in p.notes)
    return result, parsed


def file_source(fmt: FileFormat, path: Path) -> str:
    """The ``source`` of rows imported from ``path`` with ``fmt``.

    ``archive:<format>`` for the exchange's public archive (its daily and monthly files are one series);
    ``export:<format>:<file stem>`` for other tools' exports, whose files of one format can be different
    series of the same keys (a vendor's 30-minute and 1-hour exports sample the same funding instants
    differently): keeping the file in the source keeps both, so import order cannot pick one.
    """
    kind = getattr(fmt, "source_kind", "export")
    if kind != "export":
        return f"{kind}:{fmt.name}"
    stem = path.name
    for suffix in (".gz", ".zip", ".csv"):
        stem = stem.removesuffix(suffix)
    return f"export:{fmt.name}:{stem}"


def _stamp_source(p: Parsed, source: str) -> Parsed:
    if "source" not in p.record.columns:
        return p
    return dataclasses.replace(p, frame=p.frame.with_columns(pl.lit(source, pl.String).alias("source")))


def _prefetch(
    pool: ThreadPoolExecutor,
    items: list[Path],
    fn: Callable[[Path], tuple[FileResult, list[Parsed] | None]],
    ahead: int,
) -> Iterator[tuple[FileResult, list[Parsed] | None]]:
    """``map`` in input order with at most ``ahead`` files parsed but not yet consumed (bounded memory)."""
    pending: deque[Future[tuple[FileResult, list[Parsed] | None]]] = deque()
    it = iter(items)
    for item in it:
        pending.append(pool.submit(fn, item))
        if len(pending) >= ahead:
            break
    while pending:
        done = pending.popleft().result()
        nxt = next(it, None)
        if nxt is not None:
            pending.append(pool.submit(fn, nxt))
        yield done
