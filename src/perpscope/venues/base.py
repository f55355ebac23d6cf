"""What every file-format parser in ``venues/`` provides, and the shared way to open input files.

A parser turns one input file into one or more conformed record frames (:class:`Parsed`). It either
returns every frame of the file or raises :class:`~perpscope.core.errors.InputError` naming the file,
row and problem: a file is never half-parsed, so the importer never writes half a file.
"""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import polars as pl

from perpscope.core.errors import InputError
from perpscope.core.time import SystemClock
from perpscope.records import ConformError, RecordType
from perpscope.records.validate import check
from perpscope.venues.zip_member import InflateError, open_member, read_whole


@dataclass(frozen=True)
class Parsed:
    """One record frame parsed from a file.

    Attributes
    ----------
    source : str
        The file (``archive.zip:member.csv`` for a zip member).
    record : RecordType
        The record type the frame conforms to.
    frame : polars.DataFrame
        Rows, already conformed to ``record`` (``record.conform`` was applied).
    notes : tuple of str
        Anything the user should know (e.g. a timestamp convention that was normalized).
    checked : bool
        The rows already passed the boundary checks (:func:`refuse_bad_rows`), so the importer need
        not run them a second time.
    """

    source: str
    record: RecordType
    frame: pl.DataFrame
    notes: tuple[str, ...] = field(default=())
    checked: bool = False


class FileFormat(Protocol):
    """A file format perpscope can import."""

    #: short name used by ``perpscope import --format``
    name: str
    #: one line for ``perpscope import --list-formats``
    description: str

    def sniff(self, path: Path, first_line: str) -> bool:
        """True when ``path`` (and the first text line inside it) is this format."""
        ...

    def parse(self, path: Path) -> list[Parsed]:
        """All record frames in the file, or :class:`InputError`."""
        ...


#: Longest line a CSV may have. Real rows are under 1 KB; a longer line is a corrupt or hostile file,
#: refused after reading at most this much of it (not the whole line into memory).
MAX_LINE_BYTES = 1 << 20
#: Bytes decompressed at a time while reading a file.
READ_CHUNK = 1 << 22


def read_bytes(path: Path, max_line: int = MAX_LINE_BYTES) -> tuple[str, bytes]:
    """Decompressed bytes of a ``.csv``, ``.csv.gz`` or single-CSV ``.zip`` file, with its display name.

    Read in chunks, checking line lengths on the way: a line longer than ``max_line`` bytes is refused
    as soon as it is seen, in memory bounded by the lines before it plus one chunk.

    Raises
    ------
    InputError
        Empty file, truncated/corrupt zip or gzip, a zip without exactly one CSV member, or a line
        longer than ``max_line``.
    """
    name = str(path)
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                members = [m for m in zf.namelist() if m.lower().endswith(".csv")]
                if len(members) != 1:
                    raise InputError(name, f"expected one CSV inside the zip, found {members or 'none'}")
                name = f"{path}:{members[0]}"
                whole = read_whole(zf, members[0])  # one inflate call for a member of modest size
                member = open_member(zf, members[0]) if whole is None else _Once(whole)
                data = _read_bounded(member, name, max_line)
        elif path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                data = _read_bounded(fh, name, max_line)
        else:
            with path.open("rb") as fh:
                data = _read_bounded(fh, name, max_line)
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, InflateError) as exc:
        raise InputError(
            name, f"cannot read the file: {exc}", hint="is it truncated? download it again"
        ) from exc
    if not data or data.isspace():  # isspace() scans without copying a large file
        raise InputError(name, "the file is empty")
    return name, data


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Once:
    """Bytes already in memory as a reader: all of them on the first ``read``, then ``b""``."""

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def read(self, size: int = -1, /) -> bytes:
        data, self._data = self._data, None
        return data or b""


def _read_bounded(fh: _Readable, name: str, max_line: int) -> bytes:
    """All of ``fh``, refusing a line longer than ``max_line`` bytes as soon as it exceeds it.

    Cheap on real files: rather than measuring every line, each chunk is probed for a newline in
    every window of ``max_line // 2`` bytes (a few ``find`` calls per chunk); only a window without
    one — a line longer than half the bound — is measured exactly.
    """
    parts: list[bytes] = []
    run = 0  # bytes of the current (unfinished) line read so far
    step = max(1, max_line // 2)

    def lines_before() -> int:  # complete lines in the chunks before this one: counted only to report
        return sum(p.count(b"\n") for p in parts[:-1])

    while chunk := fh.read(READ_CHUNK):
        parts.append(chunk)
        first = chunk.find(b"\n")
        if first < 0:
            run += len(chunk)
            if run > max_line:
                _too_long(name, lines_before() + 1, run, max_line)
            continue
        if run + first > max_line:
            _too_long(name, lines_before() + 1, run + first, max_line)
        last = chunk.rfind(b"\n")
        start = first + 1
        while start + step <= last:
            if chunk.find(b"\n", start, start + step) >= 0:
                start += step
                continue
            prev = chunk.rfind(b"\n", 0, start)  # a long line: measure it
            nxt = chunk.find(b"\n", start + step)
            if nxt - prev - 1 > max_line:
                line = lines_before() + chunk.count(b"\n", 0, prev + 1) + 1
                _too_long(name, line, nxt - prev - 1, max_line)
            start = nxt + 1
        run = len(chunk) - last - 1
        if run > max_line:
            _too_long(name, lines_before() + chunk.count(b"\n") + 1, run, max_line)
    return b"".join(parts)


def _too_long(name: str, line: int, seen: int, max_line: int) -> None:
    raise InputError(
        name,
        f"line longer than {max_line:,} bytes (at least {seen:,}): not a CSV row",
        row=line,
        hint="a corrupt or concatenated file; a real row is well under 1 KB",
    )


def first_line(path: Path) -> str:
    """First text line inside ``path`` (decompressing zip/gz), or ``""`` when unreadable."""
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as zf:
                members = [m for m in zf.namelist() if m.lower().endswith(".csv")]
                if not members:
                    return ""
                with zf.open(members[0]) as fh:
                    return io.TextIOWrapper(fh, encoding="utf-8", errors="replace").readline().strip()
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
                return fh.readline().strip()
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            return fh.readline().strip()
    except (zipfile.BadZipFile, EOFError, OSError, UnicodeError):
        return ""


def has_header(data: bytes) -> bool:
    """True when the first line looks like column names (its first field is not a number).

    Binance's archive added header rows to its CSVs at some point; older files have none.
    """
    head = data.split(b"\n", 1)[0].split(b",", 1)[0].strip().strip(b'"')
    try:
        float(head)
    except ValueError:
        return True
    return False


def read_csv_typed(
    data: bytes,
    source: str,
    columns: dict[str, pl.DataType | type[pl.DataType]],
    *,
    header: bool | None = None,
    extra_ok: bool = False,
) -> tuple[pl.DataFrame, int]:
    """Read CSV bytes into ``columns`` (names in file order, with dtypes), or raise naming the row.

    Parameters
    ----------
    data : bytes
        The CSV text.
    source : str
        Name used in errors.
    columns : dict
        Expected columns in order. With a header row, names are checked against it; without one,
        these names are given to the file's columns positionally.
    header : bool, optional
        Whether the first line is a header; detected with :func:`has_header` when None.
    extra_ok : bool
        Allow (and drop) trailing columns beyond ``columns``.

    Returns
    -------
    (frame, header_rows)
        ``header_rows`` (0 or 1) turns a 0-based frame row into a 1-based file line:
        ``line = row + 1 + header_rows``.

    Notes
    -----
    The fast path reads typed; only when that fails is the file re-read as text to find and name the
    first bad row, so good files pay nothing for the diagnostics.
    """
    hdr = has_header(data) if header is None else header
    names = list(columns)
    try:
        raw = pl.read_csv(io.BytesIO(data), has_header=hdr, infer_schema=False, n_rows=0 if hdr else 1)
    except (pl.exceptions.PolarsError, UnicodeError) as exc:
        raise InputError(source, f"not a readable CSV: {exc}") from exc
    file_cols = raw.columns
    if len(file_cols) < len(names) or (len(file_cols) > len(names) and not extra_ok):
        raise InputError(
            source,
            f"expected {len(names)} columns ({', '.join(names)}), found {len(file_cols)}"
            + (f" ({', '.join(file_cols)})" if hdr else ""),
            row=1,
        )
    if hdr:
        got = [c.strip().lower() for c in file_cols[: len(names)]]
        want = [n.lower() for n in names]
        if got != want:
            raise InputError(source, f"expected columns {names}, found {file_cols}", row=1)
    use = list(range(len(names)))
    try:
        df = pl.read_csv(
            io.BytesIO(data),
            has_header=hdr,
            columns=use,
            schema_overrides={file_cols[i]: columns[n] for i, n in enumerate(names)},
            truncate_ragged_lines=False,
        )
        return df.rename(dict(zip(df.columns, names, strict=True))), int(hdr)
    except (pl.exceptions.PolarsError, UnicodeError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return _locate_bad_row(data, source, columns, hdr, extra_ok, why), int(hdr)


def _locate_bad_row(
    data: bytes,
    source: str,
    columns: dict[str, pl.DataType | type[pl.DataType]],
    hdr: bool,
    extra_ok: bool,
    why: str = "",
) -> pl.DataFrame:
    """Slow path: read as text, find the first row/column that does not parse, raise InputError."""
    names = list(columns)
    lines = data.decode("utf-8", errors="replace").splitlines()
    start = 1 if hdr else 0
    for i, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            raise InputError(source, "empty line inside the data", row=i)
        fields = line.split(",")
        if len(fields) < len(names) or (len(fields) > len(names) and not extra_ok):
            raise InputError(
                source, f"expected {len(names)} fields, found {len(fields)}: {line[:80]!r}", row=i
            )
        for name, value in zip(names, fields, strict=False):
            dtype = columns[name]
            text = value.strip().strip('"')
            if dtype == pl.Boolean:
                if text.lower() in ("true", "false", ""):
                    continue
                raise InputError(source, f"column {name!r}: expected true or false, found {value!r}", row=i)
            try:
                pl.Series([text], dtype=pl.String).cast(dtype, strict=True)
            except (pl.exceptions.PolarsError, ValueError):
                raise InputError(
                    source, f"column {name!r}: expected {dtype}, found {value!r}", row=i
                ) from None
    odd = next((i for i, line in enumerate(lines, start=1) if line.count('"') % 2), None)
    if odd is not None:  # a quote that never closes makes the reader join every following line
        raise InputError(
            source, f"unbalanced double quote: {lines[odd - 1][:80]!r} (the CSV reader: {why})", row=odd
        )
    raise InputError(
        source,
        f"the CSV reader failed ({why or 'no reason given'}), yet every line has {len(names)} fields "
        f"of the expected types ({', '.join(f'{n}: {columns[n]}' for n in names)})",
    )


def conform(record: RecordType, df: pl.DataFrame, source: str, header_rows: int = 0) -> pl.DataFrame:
    """:meth:`RecordType.conform` and the boundary checks (:func:`~perpscope.records.validate.check`),
    a failure of either turned into an :class:`InputError` on the file line."""
    try:
        out = record.conform(df)
    except ConformError as exc:
        row = None if exc.row is None else exc.row + 1 + header_rows
        raise InputError(source, exc.problem, row=row) from exc
    refuse_bad_rows(record, out, source, lambda r: r + 1 + header_rows)
    return out


def refuse_bad_rows(record: RecordType, df: pl.DataFrame, source: str, line_of: Callable[[int], int]) -> None:
    """Raise :class:`InputError` when any row of a conformed frame fails the boundary checks, naming
    the first bad rows' lines (``line_of`` maps a frame row to its file line) and the reasons."""
    verdict = check(record, df, now_ms=SystemClock().now_ms())
    if verdict.rejected:
        raise RejectedRows(
            source,
            f"{record.name}: {verdict.summary(line_of)}",
            row=line_of(verdict.detail[0].row),
            hint="a file imports whole or not at all",
            rejected=verdict.rejected,
        )


class RejectedRows(InputError):
    """Rows of a file failed the boundary checks; ``rejected`` counts them."""

    def __init__(
        self, path: str, problem: str, row: int | None = None, hint: str | None = None, rejected: int = 0
    ) -> None:
        super().__init__(path, problem, row=row, hint=hint)
        self.rejected = rejected


def check_time_order(
    df: pl.DataFrame, col: str, source: str, header_rows: int, *, strict: bool = True
) -> None:
    """Raise when ``col`` goes backwards (or repeats, with ``strict``), naming the first such line.

    Bars and settlements must be strictly increasing within one series of one file; a repeat or a
    step back means a corrupt or concatenated file.
    """
    s = df.get_column(col)
    if s.len() < 2:
        return
    d = s.diff().slice(1)
    zero = d.dt.total_milliseconds() if d.dtype == pl.Duration else d
    bad = (zero <= 0) if strict else (zero < 0)
    if bad.any():
        i = int(bad.arg_true()[0]) + 1
        what = "repeats" if zero[i - 1] == 0 else "goes backwards"
        raise InputError(
            source,
            f"{col} {what} at {s[i]} (previous row {s[i - 1]}): timestamps must increase",
            row=i + 1 + header_rows,
        )
