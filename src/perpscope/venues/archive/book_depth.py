"""``bookDepth`` (USDⓈ-M, daily) → BOOK_DEPTH.

Columns: ``timestamp,percentage,depth,notional`` — a UTC datetime string (``2024-01-01 00:00:08``),
the signed band in percent from mid (−5…−1 bids, +1…+5 asks, later also ±0.2), and the cumulative
depth to the band's edge in base units and in USD(T). Rows come in snapshots of one row per band.
"""

from __future__ import annotations

import polars as pl

from perpscope.records import BOOK_DEPTH
from perpscope.venues.archive.common import Columns, FileContext, ident, read_layout, require_increasing
from perpscope.venues.base import Parsed

BOOK_DEPTH_COLUMNS: Columns = {
    "timestamp": pl.String,
    "percentage": pl.Float64,
    "depth": pl.Float64,
    "notional": pl.Float64,
}


def parse_book_depth(ctx: FileContext) -> list[Parsed]:
    """Parse one ``bookDepth`` file."""
    df, hdr, _ = read_layout(ctx, [BOOK_DEPTH_COLUMNS])
    text = df.get_column("timestamp").str.strip_chars()
    when = text.str.to_datetime("%Y-%m-%d %H:%M:%S", time_zone="UTC", strict=False, time_unit="ms")
    bad = when.is_null()
    if bad.any():
        i = int(bad.arg_true()[0])
        raise ctx.error(f"timestamp: expected YYYY-MM-DD HH:MM:SS, found {text[i]!r}", row=i + 1 + hdr)
    ts = when.dt.epoch("ms")
    require_increasing(ctx, ts, hdr, "timestamp", strict=False)
    df = df.with_columns(ts_ms=ts)
    dup = ~df.select(pl.struct("ts_ms", "percentage").is_first_distinct()).to_series()
    if dup.any():
        i = int(dup.arg_true()[0])
        raise ctx.error(
            f"band {df['percentage'][i]} repeats within the snapshot at {text[i]}: each band is one series",
            row=i + 1 + hdr,
        )
    for col in ("depth", "notional"):
        s = df.get_column(col)
        neg = s < 0
        if neg.any():
            i = int(neg.arg_true()[0])
            raise ctx.error(f"{col}: expected a cumulative amount ≥ 0, found {s[i]}", row=i + 1 + hdr)
    zero = df.get_column("percentage") == 0
    if zero.any():
        i = int(zero.arg_true()[0])
        raise ctx.error("percentage: a band of 0% from mid is not a band", row=i + 1 + hdr)
    sym = ctx.symbol("perp")
    out = df.select(
        *ident(sym),
        pl.col("ts_ms"),
        pl.col("percentage").alias("band_pct"),
        pl.col("depth").alias("depth_base"),
        pl.col("notional").alias("notional_usd"),
    )
    return [ctx.parsed(BOOK_DEPTH, out, hdr)]
