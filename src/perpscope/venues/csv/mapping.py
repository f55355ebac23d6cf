"""Apply a column-mapping spec to a CSV file: :class:`MappedFormat`, a :class:`FileFormat`.

Built-in formats (``formats/*.toml`` beside this module) and user mappings are the same mechanism:
``MappedFormat.from_toml(path)``. The spec is checked when loaded (errors name the mapping file); the
CSV is checked when parsed (errors name the CSV file and the 1-based line, header counted).

Every step is a whole-column polars expression: the file is read as text, the columns a mapping
reads as numbers are converted (the first value that is not a number is reported with its line),
times are parsed, and each ``[[record]]`` block is selected, computed and conformed to its record.
"""

from __future__ import annotations

import fnmatch
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

from perpscope.core.calendar import is_session
from perpscope.core.errors import InputError, NotImportable
from perpscope.core.time import interval_label, ms_to_iso
from perpscope.records import ConformError
from perpscope.venues.base import Parsed, read_bytes, refuse_bad_rows
from perpscope.venues.csv.instrument import identity_columns
from perpscope.venues.csv.model import FormatSpec, RecordSpec, Source, Span
from perpscope.venues.csv.spec import load_spec
from perpscope.venues.csv.values import (
    LINE,
    TIME,
    number,
    numeric_columns,
    parse_time,
    span_from_text,
    src,
    text,
    with_numbers,
)

DAY_MS = 86_400_000


class NotImportableError(NotImportable):
    """A mapping spec marks this kind of file as not importable (the reason says why)."""


class MappedFormat:
    """A :class:`~perpscope.venues.base.FileFormat` defined by a mapping spec.

    Parameters
    ----------
    spec : FormatSpec
        A checked spec, from :func:`~perpscope.venues.csv.spec.load_spec` or
        :meth:`MappedFormat.from_toml`.
    """

    def __init__(self, spec: FormatSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.description = spec.description

    def __repr__(self) -> str:
        return f"MappedFormat({self.name!r})"

    @classmethod
    def from_toml(cls, path: str | Path) -> MappedFormat:
        """Load a mapping TOML file (raises :class:`InputError` naming it when invalid)."""
        return cls(load_spec(path))

    #: Same as :meth:`from_toml` (mapping files are TOML).
    from_file = from_toml

    # -- FileFormat ---------------------------------------------------------------------------------
    def sniff(self, path: Path, first_line: str) -> bool:
        """True when the header line is exactly the spec's ``header`` (and the name fits ``files``)."""
        if self.spec.header is None:
            return False
        cols = [c.strip().strip('"') for c in first_line.lstrip("\ufeff").strip().split(self.spec.delimiter)]
        if cols != list(self.spec.header):
            return False
        return not self.spec.files or any(fnmatch.fnmatch(path.name, g) for g in self.spec.files)

    def parse(self, path: Path) -> list[Parsed]:
        """Every record frame the spec's ``[[record]]`` blocks take from the file.

        Raises
        ------
        NotImportableError
            The spec marks this kind of file as not importable.
        InputError
            Unreadable or empty file, a column the mapping needs is missing, a value that does not
            parse (named by line), or a row that does not fit its record.
        """
        spec = self.spec
        if not spec.importable:
            raise NotImportableError(
                str(path), f"not importable ({spec.name}): {spec.reason}", hint=spec.hint
            )
        source, raw = self._read(path)
        out: list[Parsed] = []
        file_notes: list[str] = list(spec.notes)
        for block in spec.records:
            parsed = _apply(block, raw, source)
            if parsed is None:
                file_notes.append(f"{block.label}: no rows matched {_where_text(block)}")
            else:
                out.append(parsed)
        file_notes.extend(_unclaimed(spec.records, raw))
        if not out:
            raise InputError(
                source,
                f"no rows matched any record block of mapping {spec.name!r} ({spec.origin})",
                hint="; ".join(file_notes) or None,
            )
        first = out[0]
        out[0] = Parsed(first.source, first.record, first.frame, (*file_notes, *first.notes), first.checked)
        return out

    # -- reading ------------------------------------------------------------------------------------
    def _read(self, path: Path) -> tuple[str, pl.DataFrame]:
        spec = self.spec
        source, data = read_bytes(path)
        try:
            df = pl.read_csv(
                io.BytesIO(data),
                has_header=True,
                infer_schema=False,
                null_values=list(spec.null_values),
                separator=spec.delimiter,
            )
        except (pl.exceptions.PolarsError, UnicodeError) as exc:
            ragged = _ragged_line(data, spec.delimiter)
            if ragged is not None:
                line, want, got = ragged
                raise InputError(
                    source, f"expected {want} fields (as in the header), found {got}", row=line
                ) from exc
            raise InputError(source, f"not a readable CSV: {str(exc).splitlines()[0]}") from exc
        df = df.rename({c: c.lstrip("\ufeff").strip() for c in df.columns})
        if spec.header is not None and list(df.columns) != list(spec.header):
            raise InputError(
                source,
                f"format {spec.name!r} expects the header {','.join(spec.header)}; "
                f"found {','.join(df.columns)}",
                row=1,
            )
        needed = set().union(*(b.columns() for b in spec.records))
        missing = sorted(needed - set(df.columns))
        if missing:
            raise InputError(
                source,
                f"mapping {spec.name!r} ({spec.origin}) uses column(s) {missing} that the file does not "
                f"have; its columns are {df.columns}",
                row=1,
                hint="fix the column names in the mapping, or use the mapping meant for this file",
            )
        if df.height == 0:
            raise InputError(source, "the file has a header but no data rows")
        df = df.rename({c: src(c) for c in df.columns})
        return source, df.with_row_index(LINE, offset=2).with_columns(pl.col(LINE).cast(pl.Int64))


def _ragged_line(data: bytes, delimiter: str) -> tuple[int, int, int] | None:
    """(1-based line, header field count, its field count) of the first line whose count differs.

    Only for files without quotes (a quoted delimiter would be miscounted); None when none is found.
    """
    text = data.decode("utf-8", errors="replace")
    if '"' in text:
        return None
    lines = text.splitlines()
    want = lines[0].count(delimiter) + 1 if lines else 0
    for i, line in enumerate(lines[1:], start=2):
        got = line.count(delimiter) + 1
        if line.strip() and got != want:
            return i, want, got
    return None


# -- one record block -------------------------------------------------------------------------------


def _apply(block: RecordSpec, raw: pl.DataFrame, source: str) -> Parsed | None:
    """Rows of ``raw`` selected by ``block``, as a conformed record frame (None when no row matches)."""
    notes: list[str] = list(block.notes)
    df = raw.filter(_where(block)) if block.where else raw
    if block.skip_missing:
        miss = pl.any_horizontal([pl.col(src(c)).is_null() for c in block.skip_missing])
        n = int(df.select(miss.sum()).item())
        if n:
            notes.append(f"skipped {n:,} row(s) with no value in {', '.join(block.skip_missing)}")
            df = df.filter(~miss)
    if df.height == 0:
        return None
    df = with_numbers(df, numeric_columns(block), source, block.label)
    df = df.with_columns(parse_time(block.time, source, df, block.label))
    if block.sessions:
        df = _sessions_only(df, block.sessions, notes)
        if df.height == 0:
            return None
    df = identity_columns(df, block, source, notes)
    if df.height == 0:
        return None
    series = ["venue", "canonical"]
    df = df.sort([*series, TIME, LINE])

    bar_ms = _span(df, block.bar, block, source, notes, "bar") if block.bar else None
    int_ms = _span(df, block.interval, block, source, notes, "interval") if block.interval else None
    bar = bar_ms if bar_ms is not None else int_ms
    has_interval = "interval_ms" in block.record.columns
    cols: dict[str, pl.Expr] = {}
    if has_interval:
        assert int_ms is not None or bar is not None
        cols["interval_ms"] = int_ms if int_ms is not None else bar  # type: ignore[assignment]
    ts = pl.col(TIME)
    if block.shift.bars:
        assert bar is not None
        ts = ts + bar * block.shift.bars
    if block.shift.weekday is not None:
        # the date's 00:00 UTC, then forward to the weekday (1970-01-01 was a Thursday: weekday 3)
        day = ts // DAY_MS
        ahead = (block.shift.weekday - (day + 3) % 7) % 7
        ts = (day + ahead) * DAY_MS
    if block.shift.ms:
        ts = ts + block.shift.ms
    if block.time.round_ms:
        r = block.time.round_ms
        ts = ((ts + r // 2) // r) * r
    cols["ts_ms"] = ts.cast(pl.Int64)
    df = df.with_columns(**cols)

    if block.skip_repeated:
        same = (
            pl.all_horizontal(
                [pl.col(src(c)).eq_missing(pl.col(src(c)).shift(1).over(series)) for c in block.skip_repeated]
            )
            & pl.col(TIME).shift(1).over(series).is_not_null()
        )
        n = int(df.select(same.sum()).item())
        if n:
            notes.append(
                f"skipped {n:,} row(s) whose {', '.join(block.skip_repeated)} repeats the previous row "
                "(a value the source carried forward, not a new observation)"
            )
            df = df.filter(~same)

    rt = block.record
    field_exprs = []
    for f in rt.fields:
        if f.name in block.fields:
            field_exprs.append(_field(block.fields[f.name], f.polars).alias(f.name))
    keep = [c for c in rt.columns if c in df.columns and c not in block.fields]
    df = df.select(LINE, *keep, *field_exprs)
    lines = df.get_column(LINE)
    try:
        frame = rt.conform(df.drop(LINE))
    except ConformError as exc:
        row = None if exc.row is None else int(lines[exc.row])
        raise InputError(source, f"{block.label}: {exc.problem}", row=row) from exc
    refuse_bad_rows(rt, frame, f"{source} ({block.label})", lambda r: int(lines[r]))
    frame, lines = _dedupe(frame, lines, block, source, notes)
    return Parsed(source, rt, frame, tuple(notes), checked=True)


def _sessions_only(df: pl.DataFrame, calendar: str, notes: list[str]) -> pl.DataFrame:
    """Rows dated on a session of ``calendar``; the others (weekends, holidays: days without a market,
    not days with a zero value) are skipped and counted in a note."""
    keep = is_session(df.get_column(TIME).to_numpy(), calendar)
    n = int((~keep).sum())
    if n:
        days = df.filter(pl.Series(~keep)).get_column(TIME)
        first = ", ".join(ms_to_iso(int(d))[:10] for d in days.head(3))
        notes.append(
            f"skipped {n:,} row(s) dated on days that are not {calendar} trading sessions "
            f"(e.g. {first}): a market holiday is not a zero-flow day"
        )
    return df.filter(pl.Series(keep))


def _where(block: RecordSpec) -> pl.Expr:
    return pl.all_horizontal(
        [pl.col(src(c)).str.strip_chars().is_in(list(v)) for c, v in block.where.items()]
    )


def _where_text(block: RecordSpec) -> str:
    if not block.where:
        return "(no filter)"
    return " and ".join(f"{c} in {list(v)}" for c, v in block.where.items())


def _field(src: Source, dtype: Any) -> pl.Expr:
    if dtype == pl.String:
        return text(src)
    if dtype == pl.Boolean:
        return text(src).str.to_lowercase().is_in(["true", "1", "yes"])
    value = number(src)
    if dtype == pl.Float64:
        return value
    return value.round(0).cast(pl.Int64)  # integers and epoch-ms instants


def _span(
    df: pl.DataFrame, span: Span, block: RecordSpec, source: str, notes: list[str], what: str
) -> pl.Expr:
    """The bar or interval length as an Int64 expression (ms), possibly computed from the rows."""
    if span.kind == "fixed":
        assert span.ms is not None
        return pl.lit(span.ms, dtype=pl.Int64)
    if span.kind == "source":
        assert span.source is not None
        if span.source.expr is not None:
            return number(span.source).round(0).cast(pl.Int64)
        return span_from_text(df, text(span.source), source, f"{block.label} → {what}")
    series = ["venue", "canonical"]
    gaps = df.select(*series, TIME).unique().sort([*series, TIME])
    rnd = (span.round_ms or 1) if span.kind == "spacing" else 1
    gaps = gaps.with_columns(d=((pl.col(TIME).diff().over(series) + rnd // 2) // rnd) * rnd)
    gaps = gaps.filter(pl.col("d") > 0)
    if gaps.height == 0:
        raise InputError(
            source,
            f"{block.label}: cannot infer the {what} from the spacing of rows (no series has two rows)",
            hint=f'set `{what}` in the mapping, e.g. "1h"',
        )
    counts = gaps.group_by("d").len().sort(["len", "d"], descending=[True, False])
    mode = int(counts.item(0, "d"))
    if span.kind == "infer":
        notes.append(f"{what} inferred from the row spacing: {interval_label(mode)}")
        return pl.lit(mode, dtype=pl.Int64)
    # spacing: per row, the time since the previous row of the series
    limit = span.max_ms

    def ok(gap: pl.Expr) -> pl.Expr:
        g = ((gap + rnd // 2) // rnd) * rnd
        good = g > 0 if limit is None else (g > 0) & (g <= limit)
        return pl.when(good).then(g)

    prev = ok(pl.col(TIME) - pl.col(TIME).shift(1).over(series))
    nxt = ok(pl.col(TIME).shift(-1).over(series) - pl.col(TIME))
    notes.append(
        f"{what} of each row = the time since the previous row of the same series (rounded to "
        f"{interval_label(rnd)}); a series' first row, and rows after a gap"
        + (f" longer than {interval_label(limit)}" if limit else "")
        + f", take the next spacing; {interval_label(mode)} when neither exists"
    )
    return pl.coalesce(prev, nxt, pl.lit(mode, dtype=pl.Int64))


def _dedupe(
    frame: pl.DataFrame, lines: pl.Series, block: RecordSpec, source: str, notes: list[str]
) -> tuple[pl.DataFrame, pl.Series]:
    """Drop rows identical to an earlier one; raise when two rows share a key but differ."""
    first = frame.select(pl.struct(pl.all()).is_first_distinct()).to_series()
    n = int((~first).sum())
    if n:
        notes.append(f"dropped {n:,} row(s) identical to an earlier row of the file")
        frame, lines = frame.filter(first), lines.filter(first)
    key = list(block.record.key)
    dup = frame.select(pl.struct(key).is_duplicated()).to_series()
    if dup.any():
        both = frame.with_columns(pl.Series(LINE, lines)).filter(dup)
        row0 = both.row(0, named=True)
        same = both.filter(pl.all_horizontal([pl.col(k) == row0[k] for k in key]))
        a, b = (int(x) for x in same.get_column(LINE).sort().head(2))
        raise InputError(
            source,
            f"{block.label}: lines {a} and {b} give different values for the same "
            f"{block.record.name} key ({', '.join(f'{k}={row0[k]}' for k in key)})",
            row=b,
            hint="the file holds two versions of one fact; keep one",
        )
    return frame, lines


def _unclaimed(blocks: Iterable[RecordSpec], raw: pl.DataFrame) -> list[str]:
    """A note on rows no block's ``where`` selected (e.g. other margin types), with their counts."""
    blocks = list(blocks)
    if not blocks or not all(b.where for b in blocks):
        return []
    claimed = pl.any_horizontal([_where(b) for b in blocks])
    cols = sorted({c for b in blocks for c in b.where})
    left = raw.filter(~claimed)
    if left.height == 0:
        return []
    counts = left.group_by([src(c) for c in cols]).len().rename({src(c): c for c in cols}).sort(cols)
    parts = [
        ", ".join(f"{c}={r[c]}" for c in cols) + f" ({r['len']:,})" for r in counts.iter_rows(named=True)
    ]
    return [f"not imported: {left.height:,} row(s) no record block selects: " + "; ".join(parts)]
