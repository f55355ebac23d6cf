"""``fundingRate`` (monthly, USDⓈ-M) → FUNDING.

Columns: ``calc_time,funding_interval_hours,last_funding_rate`` — the settlement instant (ms, stamped
a few ms after the whole second), the hours the rate pays for, and the rate as a fraction per interval.
The instant is rounded to the nearest second; the interval becomes ``interval_ms``.
"""

from __future__ import annotations

import polars as pl

from perpscope.core.time import HOUR_MS
from perpscope.records import FUNDING
from perpscope.venues.archive import common
from perpscope.venues.base import Parsed

FUNDING_COLUMNS: common.Columns = {
    "calc_time": pl.Int64,
    "funding_interval_hours": pl.Int64,
    "last_funding_rate": pl.Float64,
}


def parse_funding(ctx: common.FileContext) -> list[Parsed]:
    """Parse one ``fundingRate`` file."""
    df, hdr, _ = common.read_layout(ctx, [FUNDING_COLUMNS])
    raw, _unit = common.to_epoch_ms(ctx, df.get_column("calc_time"), hdr, "calc_time")
    ts = (raw + 500) // 1000 * 1000
    if (ts != raw).any():
        ctx.notes.append("settlement times rounded to the whole second (Binance stamps them a few ms late)")
    hours = df.get_column("funding_interval_hours")
    bad = hours <= 0
    if bad.any():
        i = int(bad.arg_true()[0])
        raise ctx.error(f"funding_interval_hours must be positive, found {hours[i]}", row=i + 1 + hdr)
    common.require_increasing(ctx, ts, hdr, "calc_time (rounded to the second)")
    sym = ctx.symbol("perp")
    out = df.with_columns(ts_ms=ts).select(
        *common.ident(sym),
        pl.col("ts_ms"),
        pl.col("last_funding_rate").alias("rate"),
        (pl.col("funding_interval_hours") * HOUR_MS).alias("interval_ms"),
    )
    return [ctx.parsed(FUNDING, out, hdr)]
