"""``aggTrades`` → TRADES (USDⓈ-M futures and spot).

Columns (``binance/binance-public-data`` README)::

    futures: agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker
    spot:    the same, then is_best_match (8 columns, no header)

``is_buyer_maker`` true means the seller took liquidity: ``taker_side = "sell"``. Spot files from
2025-01-01 on stamp ``transact_time`` in microseconds; it is converted to ms.
"""

from __future__ import annotations

import polars as pl

from perpscope.records import TRADES
from perpscope.venues.archive import common
from perpscope.venues.base import Parsed

FUTURES_COLUMNS: common.Columns = {
    "agg_trade_id": pl.Int64,
    "price": pl.Float64,
    "quantity": pl.Float64,
    "first_trade_id": pl.Int64,
    "last_trade_id": pl.Int64,
    "transact_time": pl.Int64,
    "is_buyer_maker": pl.Boolean,
}
SPOT_COLUMNS: common.Columns = {**FUTURES_COLUMNS, "is_best_match": pl.Boolean}


def parse_agg_trades(ctx: common.FileContext) -> list[Parsed]:
    """Parse one ``aggTrades`` file."""
    df, hdr, layout = common.read_layout(ctx, [FUTURES_COLUMNS, SPOT_COLUMNS])
    ts, unit = common.to_epoch_ms(ctx, df.get_column("transact_time"), hdr, "transact_time")
    if unit == "us":
        ctx.notes.append(
            "transact_time was in microseconds (Binance spot files from 2025-01-01); converted to ms"
        )
    market = common.market_of_segment(ctx, default=None)
    if market is None:
        spot = layout is SPOT_COLUMNS or unit == "us"
        market = "spot" if spot else "perp"
        ctx.notes.append(
            f"market not evident from the path (no spot/ or futures/um/ folder); taken as {market}"
        )
    sym = ctx.symbol(market)
    common.require_increasing(ctx, df.get_column("agg_trade_id"), hdr, "agg_trade_id")
    common.require_increasing(ctx, ts, hdr, "transact_time", strict=False)
    out = df.with_columns(ts_ms=ts).select(
        *common.ident(sym),
        pl.lit(sym.market).alias("market"),
        pl.col("ts_ms"),
        pl.col("agg_trade_id").alias("trade_id"),
        pl.col("price"),
        pl.col("quantity").alias("qty_base"),
        pl.when(pl.col("is_buyer_maker")).then(pl.lit("sell")).otherwise(pl.lit("buy")).alias("taker_side"),
    )
    return [ctx.parsed(TRADES, out, hdr)]
