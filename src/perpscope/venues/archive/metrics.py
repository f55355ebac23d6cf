"""``metrics`` (USDⓈ-M, daily files of 5-minute rows) → OPEN_INTEREST and LONG_SHORT_RATIOS.

Columns::

    create_time,symbol,sum_open_interest,sum_open_interest_value,
    count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,
    count_long_short_ratio,sum_taker_long_short_vol_ratio

``sum_open_interest`` is one-sided open interest in contracts, which for USDⓈ-M linear contracts are
base units; ``sum_open_interest_value`` its USD(T) value. The ratio columns are, in the REST API's
terms: ``count_toptrader…`` = top traders by accounts (``topLongShortAccountRatio``),
``sum_toptrader…`` = top traders by positions (``topLongShortPositionRatio``), ``count_long_short…`` =
all accounts (``globalLongShortAccountRatio``), ``sum_taker…`` = taker buy/sell volume
(``takerlongshortRatio``). Ratio fields may be empty; such rows are left out of that ratio's series.

Time stamps (perpscope stamps a snapshot at the instant its value was known, the END of its period):

- ``create_time`` ``YYYY-MM-DD HH:MM:SS``: 5-minute rows whose meaning changed over time; the table
  :data:`METRICS_CREATE_TIME` says, per row by its ``create_time``, whether it marks the end or the
  start of the period (then 5 minutes are added). Binance writes the rows of a day out of time order;
  they are sorted (duplicates are an error).
- ``create_time`` ``YYYY-MM-DD`` (one row per day, the same schema as collected by some users): one
  value per day, stamped at the END of the day (date + 1 day) so it cannot leak into that day.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

from perpscope.core.time import DAY_MS, MINUTE_MS, parse_time_ms
from perpscope.records import LONG_SHORT_RATIOS, OPEN_INTEREST
from perpscope.venues.archive.common import Columns, FileContext, ident, read_layout, require_increasing
from perpscope.venues.base import Parsed

METRICS_COLUMNS: Columns = {
    "create_time": pl.String,
    "symbol": pl.String,
    "sum_open_interest": pl.Float64,
    "sum_open_interest_value": pl.Float64,
    "count_toptrader_long_short_ratio": pl.Float64,
    "sum_toptrader_long_short_ratio": pl.Float64,
    "count_long_short_ratio": pl.Float64,
    "sum_taker_long_short_vol_ratio": pl.Float64,
}
#: ratio column → LongShortRatio.kind
RATIO_KINDS: dict[str, str] = {
    "count_toptrader_long_short_ratio": "top_accounts",
    "sum_toptrader_long_short_ratio": "top_positions",
    "count_long_short_ratio": "global_accounts",
    "sum_taker_long_short_vol_ratio": "taker_volume",
}
PERIOD_MS = 5 * MINUTE_MS


@dataclass(frozen=True, slots=True)
class CreateTimeConvention:
    """What ``create_time`` of a 5-minute metrics row means, for rows from ``effective_from`` (UTC) on."""

    effective_from: str
    marks: Literal["end", "start"]
    source: str

    @property
    def effective_from_ms(self) -> int:
        return parse_time_ms(self.effective_from)


#: Versioned: the convention in force for a row is the last entry whose ``effective_from`` ≤ its
#: ``create_time``. Append a row when Binance changes it again; never edit a past row.
METRICS_CREATE_TIME: tuple[CreateTimeConvention, ...] = (
    CreateTimeConvention(
        "1970-01-01",
        "end",
        "archive files up to 2026-06-24: create_time is the end of the 5-minute period "
        "(perpscope project notes)",
    ),
    CreateTimeConvention(
        "2026-06-25",
        "start",
        "archive files from 2026-06-25: create_time changed to the start of the period; "
        "perpscope project notes (not found in the offline copy of binance-public-data)",
    ),
)


def stamp_5m(
    create_ms: pl.Series, table: tuple[CreateTimeConvention, ...] = METRICS_CREATE_TIME
) -> tuple[pl.Series, list[str]]:
    """``ts_ms`` (end of period) for 5-minute ``create_time`` values, per row by the convention table.

    Returns the stamps and one note per convention used (with its row count).
    """
    eff = pl.Series([c.effective_from_ms for c in table], dtype=pl.Int64)
    idx = (eff.search_sorted(create_ms, side="right").cast(pl.Int64) - 1).alias("convention")
    if (idx < 0).any():
        raise ValueError("create_time before the first convention in the table")
    offsets = pl.Series([0 if c.marks == "end" else PERIOD_MS for c in table], dtype=pl.Int64)
    ts = create_ms + offsets.gather(idx)
    notes = []
    counts = idx.value_counts(sort=False).sort("convention")
    for i, n in counts.iter_rows():
        c = table[i]
        parts = ([f"from {c.effective_from}"] if i else []) + (
            [f"before {table[i + 1].effective_from}"] if i + 1 < len(table) else []
        )
        how = "ts_ms = create_time" if c.marks == "end" else "ts_ms = create_time + 5 min"
        notes.append(
            f"metrics create_time {' '.join(parts)} marks the {c.marks.upper()} of its 5-minute period: "
            f"{how}, so each value is stamped when it was known ({n} rows)"
        )
    return ts, notes


def parse_metrics(ctx: FileContext) -> list[Parsed]:
    """Parse one ``metrics`` file (5-minute or daily rows)."""
    values = [c for c in METRICS_COLUMNS if c not in ("create_time", "symbol")]
    df, hdr, _ = read_layout(ctx, [METRICS_COLUMNS], optional=["symbol", *values])
    df = df.with_columns(_line=pl.int_range(1 + hdr, df.height + 1 + hdr, dtype=pl.Int64))
    blank = df.select(pl.all_horizontal(pl.col("symbol", *values).is_null())).to_series()
    if blank.all():
        raise ctx.error("no row has any value (only create_time)")
    if blank.any():
        ctx.notes.append(f"{int(blank.sum())} rows with only a create_time (no values) left out")
        df = df.filter(~blank)
    sym = ctx.symbol("perp", found=_one_symbol(ctx, df))
    create, daily = _create_ms(ctx, df)
    if daily:
        step = DAY_MS
        ts = create + DAY_MS
        ctx.notes.append(
            "daily metrics (date-only create_time): each value stamped at the END of its day (date + 1 day)"
        )
    else:
        step = PERIOD_MS
        ts, notes = stamp_5m(create)
        ctx.notes.extend(notes)
    _check_values(ctx, df)

    if not ts.is_sorted():
        ctx.notes.append("rows were not in time order (as Binance writes metrics files); sorted")
    df = df.with_columns(ts_ms=ts).sort("ts_ms", maintain_order=True)
    require_increasing(ctx, df.get_column("ts_ms"), hdr, "create_time", lines=df.get_column("_line"))

    base = [*ident(sym), pl.lit(step, dtype=pl.Int64).alias("interval_ms"), pl.col("ts_ms")]
    oi = df.filter(
        pl.col("sum_open_interest").is_not_null() | pl.col("sum_open_interest_value").is_not_null()
    )
    oi = oi.select(
        *base,
        pl.col("sum_open_interest").alias("oi_base"),
        pl.col("sum_open_interest_value").alias("oi_usd"),
    )
    ctx.notes.append("open interest is one-sided (contracts outstanding = base units for USDⓈ-M linear)")
    ratios = []
    for col, kind in RATIO_KINDS.items():
        r = pl.col(col)
        no_share = pl.lit(None, pl.Float64)
        share = kind != "taker_volume"
        ratios.append(
            df.filter(r.is_not_null()).select(
                *base[:3],
                pl.lit(kind).alias("kind"),
                *base[3:],
                r.alias("ratio"),
                (r / (1 + r) if share else no_share).alias("long_share"),
                (1 / (1 + r) if share else no_share).alias("short_share"),
            )
        )
    ctx.notes.append("long_share/short_share of account and position ratios derived as r/(1+r), 1/(1+r)")
    out = []
    if oi.height:
        out.append(ctx.parsed(OPEN_INTEREST, oi, hdr))
    ls = pl.concat(ratios, how="vertical")
    if ls.height:
        out.append(ctx.parsed(LONG_SHORT_RATIOS, ls, hdr))
    return out


def _one_symbol(ctx: FileContext, df: pl.DataFrame) -> str:
    s, lines = df.get_column("symbol"), df.get_column("_line")
    missing = s.is_null()
    if missing.any():
        i = int(missing.arg_true()[0])
        raise ctx.error("symbol is empty in a row that has values", row=int(lines[i]))
    first = str(s[0])
    bad = s != first
    if bad.any():
        i = int(bad.arg_true()[0])
        raise ctx.error(f"one file must hold one symbol: found {s[i]!r} after {first!r}", row=int(lines[i]))
    return first


def _create_ms(ctx: FileContext, df: pl.DataFrame) -> tuple[pl.Series, bool]:
    """Parse ``create_time`` text into epoch ms; True when date-only (daily rows)."""
    s, lines = df.get_column("create_time").str.strip_chars(), df.get_column("_line")
    daily = len(str(s[0])) == 10
    fmt = "%Y-%m-%d" if daily else "%Y-%m-%d %H:%M:%S"
    width = 10 if daily else 19
    parsed = s.str.to_datetime(fmt, time_zone="UTC", strict=False, time_unit="ms")
    bad = parsed.is_null() | (s.str.len_chars() != width)
    if bad.any():
        i = int(bad.arg_true()[0])
        want = "YYYY-MM-DD" if daily else "YYYY-MM-DD HH:MM:SS"
        raise ctx.error(f"create_time: expected {want} like the first row, found {s[i]!r}", row=int(lines[i]))
    return parsed.dt.epoch("ms").alias("create_ms"), daily


def _check_values(ctx: FileContext, df: pl.DataFrame) -> None:
    """Open interest and ratios, where present, finite and ≥ 0."""
    lines = df.get_column("_line")
    for col in ("sum_open_interest", "sum_open_interest_value", *RATIO_KINDS):
        s = df.get_column(col)
        bad = s.is_not_null() & (~s.is_finite() | (s < 0))
        if bad.any():
            i = int(bad.arg_true()[0])
            raise ctx.error(f"{col}: expected a finite number ≥ 0, found {s[i]}", row=int(lines[i]))
