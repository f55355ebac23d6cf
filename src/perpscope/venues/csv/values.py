"""Column values for the mapping engine: text, numbers, times and durations as polars expressions.

The CSV is read as text. Source columns are renamed ``src(name)`` so they can never collide with
the record's own columns (a file may well have a ``symbol`` or ``venue`` column); the columns a
mapping reads as numbers get a parsed twin ``num(name)``. Any value that does not parse is reported
with its file line (``LINE``).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from perpscope.core.errors import InputError
from perpscope.core.time import interval_ms
from perpscope.venues.csv.model import RecordSpec, Source, TimeSpec

#: internal columns: the 1-based file line of each row, and its parsed time (ms) before any shift
LINE = "\x1fline"
TIME = "\x1ftime"
_ISO_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_NUMERIC_UNITS = {"ms": (1, 1), "s": (1000, 1), "us": (1, 1000), "ns": (1, 1_000_000)}


def src(column: str) -> str:
    """Internal name of source column ``column`` (the text as read)."""
    return f"\x1fsrc:{column}"


def num(column: str) -> str:
    """Internal name of the parsed-number twin of source column ``column``."""
    return f"\x1fnum:{column}"


def first_bad(df: pl.DataFrame, mask: pl.Expr) -> int | None:
    """0-based index of the first row where ``mask`` is true, or None."""
    idx = df.select(mask.arg_true().first()).item()
    return None if idx is None else int(idx)


# -- numbers ----------------------------------------------------------------------------------------


def numeric_columns(block: RecordSpec) -> set[str]:
    """Source columns the block reads as numbers (converted and checked once, up front)."""
    cols: set[str] = set()
    numeric = {f.name for f in block.record.fields if f.polars in (pl.Float64, pl.Int64)}
    numeric |= {f.name for f in block.record.fields if str(f.polars).startswith("Datetime")}
    for name, s in block.fields.items():
        if name in numeric and s.mapping is None:
            if s.column is not None:
                cols.add(s.column)
            elif s.expr is not None:
                cols |= s.expr.columns
    for span in (block.bar, block.interval):
        if span is not None and span.source is not None and span.source.expr is not None:
            cols |= span.source.expr.columns
    return cols


def with_numbers(df: pl.DataFrame, columns: set[str], source: str, label: str) -> pl.DataFrame:
    """Add the parsed twin of each column; raise naming the line of the first value that is no number."""
    if not columns:
        return df
    df = df.with_columns(
        pl.col(src(c)).str.strip_chars().cast(pl.Float64, strict=False).alias(num(c)) for c in sorted(columns)
    )
    for c in sorted(columns):
        i = first_bad(df, pl.col(src(c)).is_not_null() & pl.col(num(c)).is_null())
        if i is not None:
            raise InputError(
                source,
                f"column {c!r}: expected a number, found {df.item(i, src(c))!r} ({label})",
                row=int(df.item(i, LINE)),
            )
    return df


def number(s: Source) -> pl.Expr:
    """Float64 value of a source (column twin, constant, expression or mapped text), scaled."""
    if s.mapping is not None or s.template is not None:
        e = text(s).cast(pl.Float64, strict=False)
    elif s.column is not None:
        e = pl.col(num(s.column))
    elif s.expr is not None:
        e = s.expr.build(lambda c: pl.col(num(c)))
    else:
        e = pl.lit(s.value).cast(pl.Float64, strict=False)
    return e * s.scale if s.scale is not None else e


# -- text -------------------------------------------------------------------------------------------


def text(s: Source) -> pl.Expr:
    """String value of a source, with ``map`` / ``default`` / ``case`` applied."""
    if s.column is not None:
        e = pl.col(src(s.column)).str.strip_chars()
    elif s.template is not None:
        parts: list[pl.Expr] = []
        for literal, col in s.template:
            if literal:
                parts.append(pl.lit(literal))
            if col is not None:
                parts.append(pl.col(src(col)).str.strip_chars())
        e = pl.concat_str(parts)
    elif s.expr is not None:
        e = number(Source(expr=s.expr)).cast(pl.String)
    else:
        e = pl.lit(_as_text(s.value), dtype=pl.String)
    if s.mapping is not None:
        old = list(s.mapping)
        new = [_as_text(v) for v in s.mapping.values()]
        if s.has_default:
            e = e.replace_strict(old, new, default=pl.lit(_as_text(s.default)), return_dtype=pl.String)
        else:
            e = e.replace(old, new)
    if s.case == "lower":
        e = e.str.to_lowercase()
    elif s.case == "upper":
        e = e.str.to_uppercase()
    return e


def _as_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


#: Largest int64: the bound of an epoch-ms instant.
_INT64_MAX = 2**63 - 1


# -- time -------------------------------------------------------------------------------------------


def parse_time(spec: TimeSpec, source: str, df: pl.DataFrame, label: str) -> pl.Series:
    """Epoch ms (Int64) of every row, before any shift; raise naming the first unreadable line."""
    raw = pl.col(src(spec.column)).str.strip_chars()
    if spec.unit in _NUMERIC_UNITS:
        mul, div = _NUMERIC_UNITS[spec.unit]
        # values beyond what int64 ms can hold (1e30, a line of digits) become null here, and are
        # reported below with their line, instead of overflowing a cast
        limit = _INT64_MAX // mul
        whole = raw.cast(pl.Int64, strict=False)
        as_int = pl.when(whole.abs() <= limit).then(whole * mul // div)
        frac = raw.cast(pl.Float64, strict=False)
        as_float = (
            pl.when(frac.abs() <= float(limit)).then((frac * mul / div).floor()).cast(pl.Int64, strict=False)
        )
        e = pl.coalesce(as_int, as_float)
        what = f"epoch {spec.unit}"
    elif spec.unit == "iso":
        t = raw.str.replace(r"^(\d{4}-\d{2}-\d{2})T", "$1 ").str.replace(r"(Z|[+-]00:?00)$", "")
        e = pl.coalesce([t.str.to_datetime(f, strict=False, time_unit="ms") for f in _ISO_FORMATS]).dt.epoch(
            "ms"
        )
        what = "an ISO 8601 UTC time (2025-10-10 21:00:00, 2025-10-10T21:00:00Z or 2025-10-10)"
    else:
        assert spec.format is not None
        e = raw.str.to_datetime(spec.format, strict=False, time_unit="ms").dt.epoch("ms")
        what = f"a time in the format {spec.format!r}"
    out = df.select(e.cast(pl.Int64, strict=False).alias("t")).to_series()
    bad = out.is_null()
    if bad.any():
        i = int(bad.arg_true()[0])
        value = df.item(i, src(spec.column))
        problem = (
            f"time column {spec.column!r} is empty"
            if value is None
            else f"time column {spec.column!r}: {value!r} is too large to be a time (int64 ms)"
            if _beyond_int64(value)
            else f"time column {spec.column!r}: cannot read {value!r} as {what}"
        )
        hint = (
            "only UTC times are read; give `format` with %z for other offsets" if spec.unit == "iso" else None
        )
        raise InputError(source, f"{problem} ({label})", row=int(df.item(i, LINE)), hint=hint)
    return out.alias(TIME)


def _beyond_int64(value: str) -> bool:
    """True for a number whose magnitude no int64 instant can hold."""
    try:
        return abs(float(value.strip())) >= 2**63 / 1000
    except ValueError:
        return False


# -- durations --------------------------------------------------------------------------------------


def span_from_text(df: pl.DataFrame, values: pl.Expr, source: str, what: str) -> pl.Expr:
    """Durations given as text per row (``8h``, ``30m``, or a number of ms) → Int64 ms expression.

    Only the distinct values are parsed; a value that is not a duration is reported with its line.
    """
    vals = df.select(values.alias("v"), pl.col(LINE))
    mapping: dict[str, int] = {}
    for v in vals.get_column("v").unique().to_list():
        ms = _duration(v)
        if ms is None:
            line = vals.filter(pl.col("v").eq_missing(v)).item(0, LINE)
            found = "an empty value" if v is None else repr(v)
            raise InputError(
                source, f"{what}: expected a duration such as 8h or 30m (or ms), found {found}", row=int(line)
            )
        mapping[v] = ms
    return values.replace_strict(list(mapping), list(mapping.values()), return_dtype=pl.Int64)


def _duration(v: str | None) -> int | None:
    if v is None:
        return None
    try:
        return interval_ms(v)
    except ValueError:
        pass
    try:
        f = float(v)
    except ValueError:
        return None
    return round(f) if f > 0 else None
