"""Shared steps of the archive parsers: open a file, pick its column layout, read it typed, check
field counts, time units and order — each failure an :class:`InputError` naming file, line and problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from perpscope.core.errors import InputError
from perpscope.core.series_order import NEVER_FALLS, RISES, rise
from perpscope.records import RecordType
from perpscope.venues.archive.layout import DATASETS, Segment, inspect_path
from perpscope.venues.base import Parsed, conform, read_bytes, read_csv_typed
from perpscope.venues.binance.symbols import BinanceSymbol, Market, parse_symbol

VENUE = "binance"

Columns = dict[str, pl.DataType | type[pl.DataType]]

#: Plausible epoch-millisecond range (1973 … 5138); below is seconds or garbage, above is µs.
MS_MIN, MS_MAX = 10**11, 10**14
#: Plausible epoch-microsecond range.
US_MAX = 10**17


@dataclass
class FileContext:
    """One archive file being parsed: its bytes and what its path says about it."""

    path: Path
    source: str
    data: bytes
    dataset: str
    segment: Segment | None
    symbol_text: str | None
    interval: str | None
    notes: list[str] = field(default_factory=list)

    def error(self, problem: str, row: int | None = None, hint: str | None = None) -> InputError:
        return InputError(self.source, problem, row=row, hint=hint)

    def symbol(self, market: Market, found: str | None = None) -> BinanceSymbol:
        """The file's symbol as ``market`` (from the file name, else ``found`` in the data)."""
        text = self.symbol_text or found
        if not text:
            raise self.error(
                "cannot tell the symbol: the file name is not Binance's <SYMBOL>-<kind>-<date>",
                hint="keep the archive's file names, e.g. BTCUSDT-1m-2024-01-01.zip",
            )
        if found and self.symbol_text and found.upper() != self.symbol_text.upper():
            raise self.error(f"the data is for {found}, but the file name says {self.symbol_text}")
        try:
            return parse_symbol(text, market)
        except ValueError as exc:
            raise self.error(str(exc)) from exc

    def parsed(self, record: RecordType, df: pl.DataFrame, header_rows: int) -> Parsed:
        """Conform ``df`` to ``record`` (rows → file lines) and wrap it with this file's notes."""
        frame = conform(record, df, self.source, header_rows)  # conformed and checked
        return Parsed(self.source, record, frame, tuple(self.notes), checked=True)


def open_file(path: Path, dataset: str | None = None, segment: Segment | None = None) -> FileContext:
    """Read ``path`` (zip/gz/csv) and work out its dataset, market segment, symbol and interval.

    ``dataset`` and ``segment`` override what the path says.
    """
    info = inspect_path(path)
    source, data = read_bytes(path)
    ds = dataset or info.dataset
    if ds not in DATASETS:
        raise InputError(source, f"cannot tell which archive dataset this is (got {ds!r})")
    if info.symbol and info.folder_symbol and info.symbol != info.folder_symbol:
        # the rows would be filed under the file name's symbol: refuse rather than guess which is right
        raise InputError(
            source,
            f"the file name says {info.symbol} but its folder says {info.folder_symbol}",
            hint="the archive keeps each symbol's files in that symbol's folder; move or rename the file",
        )
    seg = segment or info.segment
    if seg == "cm" and ds != "liquidationSnapshot":
        raise InputError(
            source,
            f"COIN-M {ds} files are not supported (their quantities are in contracts)",
            hint="use the USDⓈ-M (futures/um) or spot files",
        )
    return FileContext(path, source, data, ds, seg, info.symbol, info.interval)


def _first_line(data: bytes) -> bytes:
    """The first line, without copying the rest of a large file."""
    end = data.find(b"\n")
    return data if end < 0 else data[:end]


def first_fields(data: bytes) -> list[str]:
    """Fields of the first line."""
    return _first_line(data).decode("utf-8", errors="replace").strip().split(",")


def read_layout(
    ctx: FileContext, layouts: Sequence[Columns], optional: Sequence[str] = ()
) -> tuple[pl.DataFrame, int, Columns]:
    """Read the file with the layout whose column count matches its first line.

    Returns ``(frame, header_rows, layout)``. Checks that no column outside ``optional`` has an
    empty value, which also catches a line with too few fields (polars reads the missing fields as
    empty); files with ``optional`` columns get their separators counted instead.
    """
    n = len(first_fields(ctx.data))
    layout = next((lay for lay in layouts if len(lay) == n), None)
    if layout is None:
        want = " or ".join(f"{len(lay)} ({', '.join(lay)})" for lay in layouts)
        raise ctx.error(f"expected {want} columns, found {n}", row=1)
    hdr = looks_like_header(ctx.data)
    if optional:
        # a short line reads as empty values, which optional columns admit: count the separators
        check_field_counts(ctx, len(layout))
    try:
        df, header_rows = read_csv_typed(ctx.data, ctx.source, layout, header=hdr)
    except InputError:
        # name the line ourselves where we can: a wrong field count, or the first value of the wrong type
        check_field_counts(ctx, len(layout))
        locate_bad_value(ctx, layout, hdr)
        raise
    if df.height == 0:
        raise ctx.error("the file has a header but no data rows")
    for name in layout:
        if name not in optional and df.get_column(name).null_count():
            check_field_counts(ctx, len(layout))  # a short line reads as empty values
            row = int(df.get_column(name).is_null().arg_true()[0])
            raise ctx.error(f"column {name!r} is empty", row=row + 1 + header_rows)
    return df, header_rows, layout


def looks_like_header(data: bytes) -> bool:
    """True when the first line is column names: its first field does not start like a number or a
    date (``base.has_header`` takes a leading ``2024-01-01 00:00:00`` for a name)."""
    head = _first_line(data).split(b",", 1)[0].strip().strip(b'"')
    return not head[:1].isdigit() and head[:1] not in (b"-", b"+", b".")


def check_field_counts(ctx: FileContext, ncols: int) -> None:
    """Every line has ``ncols`` fields. Fast check by counting separators; the slow scan only runs
    to name the line when the count is off."""
    data = ctx.data
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if data.count(b",") == lines * (ncols - 1):
        return
    text = data.decode("utf-8", errors="replace").splitlines()
    while text and not text[-1].strip():
        text.pop()
    for i, line in enumerate(text, start=1):
        if not line.strip():
            raise ctx.error("empty line inside the data", row=i)
        got = line.count(",") + 1
        if got != ncols:
            raise ctx.error(f"expected {ncols} fields, found {got}: {line[:80]!r}", row=i)


def locate_bad_value(ctx: FileContext, layout: Columns, hdr: bool) -> None:
    """Error path only: raise naming the first line whose value does not fit its column's type."""
    lines = ctx.data.decode("utf-8", errors="replace").splitlines()
    for i, line in enumerate(lines[int(hdr) :], start=1 + int(hdr)):
        for (name, dtype), value in zip(layout.items(), line.split(","), strict=False):
            v = value.strip().strip('"')
            if not v or _fits(v, dtype):
                continue
            raise ctx.error(
                f"column {name!r}: expected {_TYPE_WORDS.get(dtype, dtype)}, found {value!r}", row=i
            )


_TYPE_WORDS: dict[object, str] = {pl.Int64: "an integer", pl.Float64: "a number", pl.Boolean: "true or false"}


def _fits(v: str, dtype: pl.DataType | type[pl.DataType]) -> bool:
    try:
        if dtype == pl.Int64:
            int(v)
        elif dtype == pl.Float64:
            float(v)
        elif dtype == pl.Boolean:
            return v.lower() in ("true", "false")
    except ValueError:
        return False
    return True


def to_epoch_ms(ctx: FileContext, s: pl.Series, header_rows: int, what: str) -> tuple[pl.Series, str]:
    """Epoch instants in ms or µs → ms (floor), detected by magnitude; ``(series, unit)``.

    Binance spot archive files from 2025-01-01 on stamp times in microseconds.
    """
    lo, hi = s.min(), s.max()
    if not isinstance(lo, int) or not isinstance(hi, int):
        raise ctx.error(f"{what}: no timestamps")
    if lo >= MS_MIN and hi < MS_MAX:
        return s, "ms"
    if lo >= MS_MAX and hi < US_MAX:
        return s // 1000, "us"
    first = s[0]
    unit_ms = MS_MIN <= first < MS_MAX
    bad = ~s.is_between(MS_MIN, MS_MAX - 1) if unit_ms else ~s.is_between(MS_MAX, US_MAX - 1)
    row = int(bad.arg_true()[0])
    raise ctx.error(
        f"{what}: {s[row]} is not an epoch time in the same unit as the first row "
        f"({'ms' if unit_ms else 'µs' if MS_MAX <= first < US_MAX else 'unknown unit'})",
        row=row + 1 + header_rows,
    )


def require_increasing(
    ctx: FileContext,
    s: pl.Series,
    header_rows: int,
    what: str,
    *,
    strict: bool = True,
    lines: pl.Series | None = None,
) -> None:
    """Raise unless ``s`` (ints) increases (strictly, or never decreases), naming the first bad line.

    ``lines`` gives each row's file line when rows were reordered; default row + 1 + header.
    """
    if s.len() < 2:
        return
    if s.dtype.is_integer() and not s.null_count():
        # on numpy views first: a month of 1-minute bars in ~0.05 ms, where polars' diff and comparison
        # took 0.29 ms (the line of a bad row is found below, on failure only)
        found = rise(s)
        if found == RISES or (not strict and found == NEVER_FALLS):
            return
    d = s.diff().slice(1)
    bad = (d <= 0) if strict else (d < 0)
    if not bad.any():
        return
    i = int(bad.arg_true()[0]) + 1
    line = int(lines[i]) if lines is not None else i + 1 + header_rows
    what_happened = "repeats" if d[i - 1] == 0 else "goes backwards"
    raise ctx.error(
        f"{what} {what_happened} ({s[i]} after {s[i - 1]}): each series must move forward in time",
        row=line,
    )


def ident(sym: BinanceSymbol) -> list[pl.Expr]:
    """Constant ``venue``, ``symbol``, ``canonical`` columns."""
    return [
        pl.lit(VENUE).alias("venue"),
        pl.lit(sym.symbol).alias("symbol"),
        pl.lit(sym.canonical).alias("canonical"),
    ]


def market_of_segment(ctx: FileContext, default: Market | None = "perp") -> Market | None:
    """``spot`` for spot files, ``perp`` for futures (``future`` comes from a dated symbol)."""
    if ctx.segment == "spot":
        return "spot"
    if ctx.segment in ("um", "cm"):
        return "perp"
    return default
