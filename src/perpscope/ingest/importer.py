"""Import files into the store: find each file's format, parse it whole, check it, write it atomically.

A file that fails to parse, or has a row that fails the boundary checks
(:mod:`perpscope.records.validate`), is reported (file, row, problem) and contributes nothing; the other
files of the batch still import — whatever the parser raised. Parsed frames are buffered and written
in batches, so that thirty daily files of one month rewrite that month's Parquet file once, not thirty
times; each batch is one store transaction (:meth:`Lake.transaction`), so every file's rows become
visible together or not at all, across a ``kill -9`` too. A batch is written in a writer thread while
the next files are parsed, and the row groups of a large new month file are encoded as its files
arrive, on two encoder threads, and joined into the month file at the write
(:class:`~perpscope.store.lake.MonthEncoder`), so two million trades of one month are not encoded on
one core after the last file. An import first completes a commit a crash interrupted and deletes the
temporary files crashed writers left.
"""

from __future__ import annotations

import dataclasses
import os
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import polars as pl

from perpscope.core.errors import InputError, NotImportable, PerpscopeError
from perpscope.core.time import SystemClock
from perpscope.records import RecordType
from perpscope.records.validate import check
from perpscope.store import Lake, WriteResult
from perpscope.store.commit import RecoveryReport
from perpscope.store.lake import ENCODE_WORKERS, MonthEncoder, encode_ahead
from perpscope.venues.base import FileFormat, Parsed, RejectedRows, first_line
from perpscope.venues.registry import all_formats, format_named, sniff

#: File endings the importer looks at when walking folders.
DATA_SUFFIXES = (".zip", ".csv", ".gz")
#: Rows buffered before the buffered frames are written.
FLUSH_ROWS = 4_000_000
#: Rows buffered from which a file of months not yet buffered closes the batch first (see ``_Buffer``).
#: The batch still buffered when the last file is parsed is written after it, on its own: at 1 M rows
#: (the 36 monthly 1-minute kline files of the import benchmark: 23 files, then 13) the import went on
#: 300–880 ms after its last file was parsed, at 250 k (batches of six such months) 67–215 ms, with the
#: same CPU (1.52–1.65 s against 1.58–2.22 s; six rounds each, interleaved, load 4.8–5.4).
EARLY_FLUSH_ROWS = 250_000
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
    rejected_rows: int = 0  # rows that failed the boundary checks (the file is then not imported)


@dataclass
class ImportReport:
    """Outcome of one import: per file, and rows added per record."""

    files: list[FileResult] = field(default_factory=list)
    writes: list[WriteResult] = field(default_factory=list)
    recovery: RecoveryReport = field(default_factory=RecoveryReport)

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

    def rows_rejected(self) -> int:
        """Rows refused by the boundary checks, over every file."""
        return sum(f.rejected_rows for f in self.files)

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
    """Parsed frames waiting to be written, and the one writer thread that writes them.

    A batch is written as one transaction (its files' rows appear together), in a thread of its own
    while the next files are parsed: the Parquet merge and the CSV parsing overlap on the two cores
    instead of taking turns. At most one batch is being written while the next one fills (bounded
    memory). A batch is closed at :data:`FLUSH_ROWS`, or from :data:`EARLY_FLUSH_ROWS` on when the next
    file's months are not among those buffered (one write per month partition: a monthly file, or a
    month of daily files, is not merged twice).
    """

    def __init__(self, lake: Lake, report: ImportReport) -> None:
        self.lake = lake
        self.report = report
        self.frames: dict[str, tuple[RecordType, list[pl.DataFrame]]] = {}
        self.months: set[tuple[str, int]] = set()  # (record, month index) buffered
        self.rows = 0
        # this batch's new month files, encoded ahead by the writer thread (``_encode_ahead``)
        self.ahead: dict[Path, MonthEncoder] = {}
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer")
        # the row groups of months encoded ahead, on both cores (:class:`MonthEncoder`)
        self._encoders = ThreadPoolExecutor(max_workers=ENCODE_WORKERS, thread_name_prefix="import-encode")
        self._writing: Future[list[WriteResult]] | None = None

    def add(self, parsed: list[Parsed]) -> None:
        months = {(p.record.name, m) for p in parsed for m in _months(p)}
        if self.rows >= EARLY_FLUSH_ROWS and not months & self.months:
            self.flush(wait=False)
        for p in parsed:
            self.frames.setdefault(p.record.name, (p.record, []))[1].append(p.frame)
            self.rows += p.frame.height
        self.months |= months
        if self.lake.encodes_ahead and parsed:
            # queued before the batch's write on the one writer thread: done when the write starts
            self._writer.submit(self._encode_ahead, [(p.record, p.frame) for p in parsed], self.ahead)
        if self.rows >= FLUSH_ROWS:
            self.flush(wait=False)

    def flush(self, wait: bool = True) -> None:
        """Hand the buffered frames to the writer (after the batch before them is written); ``wait`` for
        it. A failed write raises here, in the importing thread."""
        batch = [(rt, frames) for rt, frames in self.frames.values() if frames]
        ahead = self.ahead
        self.frames, self.months, self.rows, self.ahead = {}, set(), 0, {}
        self._join()
        if batch:
            self._writing = self._writer.submit(self._write, batch, ahead)
        if wait:
            self._join()

    def _encode_ahead(
        self, frames: list[tuple[RecordType, pl.DataFrame]], ahead: dict[Path, MonthEncoder]
    ) -> None:
        """Feed a file's rows to the encoders of the new month files they go to (in the writer thread,
        while the next files are parsed)."""
        for record, frame in frames:
            encode_ahead(self.lake, record, frame, ahead, self._encoders)

    def close(self) -> None:
        """Stop the writer thread (after the batch it is writing, if any)."""
        self._writer.shutdown(wait=True)
        self._encoders.shutdown(wait=True, cancel_futures=True)

    def _join(self) -> None:
        if self._writing is not None:
            done, self._writing = self._writing, None
            self.report.writes.extend(done.result())

    def _write(
        self, batch: list[tuple[RecordType, list[pl.DataFrame]]], ahead: dict[Path, MonthEncoder]
    ) -> list[WriteResult]:
        """Write ``batch`` in one transaction: each file's rows appear together or not at all."""
        for enc in ahead.values():
            enc.seal()  # every file of the batch is fed: its months' last row groups can be encoded
        with self.lake.transaction() as tx:
            tx.encoded.update((path, enc) for path, enc in ahead.items() if enc.rows_encoded)
            # parsed frames are conformed and checked already (``Parsed``)
            return [tx.write(rt, pl.concat(frames, how="vertical"), conformed=True) for rt, frames in batch]


def _months(p: Parsed) -> range:
    """Month indices (year × 12 + month − 1) spanned by a parsed frame's instants."""
    s = p.frame.get_column(p.record.time_col)
    lo, hi = s.min(), s.max()
    if lo is None or hi is None:
        return range(0)
    if not isinstance(lo, datetime) or not isinstance(hi, datetime):  # int ms
        lo = datetime.fromtimestamp(int(cast(int, lo)) / 1000, UTC)
        hi = datetime.fromtimestamp(int(cast(int, hi)) / 1000, UTC)
    return range(lo.year * 12 + lo.month - 1, hi.year * 12 + hi.month)


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
    report = ImportReport(recovery=lake.recover())
    buf = _Buffer(lake, report)
    now_ms = SystemClock().now_ms()
    try:
        with ThreadPoolExecutor(max_workers=PARSE_WORKERS) as pool:
            outcomes = _prefetch(
                pool, files, lambda p: _parse_one(p, forced, fmts, now_ms), ahead=PARSE_WORKERS + 1
            )
            for i, (result, parsed) in enumerate(outcomes, start=1):
                if parsed is not None:
                    buf.add(parsed)
                report.files.append(result)
                if progress:
                    progress(i, len(files), result.path)
        buf.flush()
    finally:
        buf.close()
    return report


def _parse_one(
    path: Path, forced: FileFormat | None, fmts: list[FileFormat], now_ms: int | None = None
) -> tuple[FileResult, list[Parsed] | None]:
    """Find the format of one file, parse it whole and check its rows; errors become the file's result.

    Any exception a parser raises becomes this file's error: one hostile file never stops the batch.
    """
    result = FileResult(path=path, format=None)
    f: FileFormat | None = None
    try:
        if not path.exists():
            raise InputError(str(path), "no such file")
        f = forced or sniff(path, fmts)
        if f is None:
            raise InputError(
                str(path),
                unrecognized(path, fmts),
                hint="name one with --format, or describe the columns in a mapping file (--mapping); "
                "`perpscope import --list-formats` lists the known ones",
            )
        result.format = f.name
        parsed = f.parse(path)
        for p in parsed:  # the built-in parsers check their rows; this is the guarantee for any other
            if p.checked:
                continue
            verdict = check(p.record, p.frame, now_ms=now_ms or SystemClock().now_ms())
            if verdict.rejected:
                raise RejectedRows(
                    p.source,
                    f"{p.record.name}: {verdict.summary(lambda r: r + 1)}",
                    hint="rows counted from 1 in the parsed frame; a file imports whole or not at all",
                    rejected=verdict.rejected,
                )
    except NotImportable as exc:
        result.skipped = str(exc)
        return result, None
    except PerpscopeError as exc:
        result.error = str(exc)
        result.rejected_rows = getattr(exc, "rejected", 0)
        return result, None
    except Exception as exc:  # a parser bug on a hostile file: report it, go on
        what = f"the {f.name} parser" if f is not None else "reading the file"
        first = str(exc).splitlines()[0] if str(exc) else ""
        result.error = f"{path}: {what} failed: {type(exc).__name__}: {first}"
        return result, None
    parsed = [_stamp_source(p, file_source(f, path)) for p in parsed]
    for p in parsed:
        result.rows[p.record.name] = result.rows.get(p.record.name, 0) + p.frame.height
    result.notes = tuple(n for p in parsed for n in p.notes)
    return result, parsed


def unrecognized(path: Path, fmts: list[FileFormat]) -> str:
    """Why no format took ``path``: what its first line holds, how many formats were tried, the closest
    known header and how it differs."""
    line = first_line(path)
    if not line:
        return f"unrecognized file format: no readable first line (tried {len(fmts)} formats)"
    cols = [c.strip().strip('"') for c in line.lstrip("\ufeff").split(",")]
    if not line.isprintable():
        shown = f"not text: {line[:40]!r}"
    else:
        shown = ", ".join(cols[:12]) + (f", … ({len(cols)} columns)" if len(cols) > 12 else "")
    best: tuple[float, str, list[str]] | None = None
    for f in fmts:
        for header in _headers_of(f):
            score = len(set(header) & set(cols)) / len(set(header) | set(cols))
            if best is None or score > best[0]:
                best = (score, f.name, header)
    msg = (
        f"unrecognized file format: its first line ({shown[:300]}) is no known header, and its path "
        f"({path.name}) no archive file name; tried {len(fmts)} formats"
    )
    if best is not None and best[0] > 0:
        _, name, header = best
        missing = [c for c in header if c not in cols]
        extra = [c for c in cols if c not in header]
        msg += (
            f"; closest: {name} (expects {', '.join(header)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unexpected {', '.join(extra[:8])}" if extra else "")
            + (f"; same columns but the file name does not fit {name}" if not missing and not extra else "")
            + ")"
        )
    return msg


def _headers_of(f: FileFormat) -> list[list[str]]:
    """The header lines a format accepts, as far as it says (mapping specs, archive layouts)."""
    spec = getattr(f, "spec", None)
    if spec is not None and getattr(spec, "header", None):
        return [list(spec.header)]
    return [list(lay) for lay in getattr(f, "layouts", ()) or ()]


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
