"""Kline datasets → CANDLES: ``klines`` (trade price, perp or spot), ``markPriceKlines`` (mark),
``indexPriceKlines`` (index), ``premiumIndexKlines`` (premium — fractions, not prices).

All four share Binance's 12-column kline CSV (``binance/binance-public-data`` README)::

    open_time,open,high,low,close,volume,close_time,quote_volume,count,
    taker_buy_volume,taker_buy_quote_volume,ignore

with a header row in newer futures files and none in older files and in spot files. Spot files from
2025-01-01 on stamp ``open_time``/``close_time`` in microseconds; they are converted to ms. The mark,
index and premium klines carry no volume (Binance fills those columns with zeros or counts of index
samples), so their volume columns are left empty.
"""

from __future__ import annotations

import polars as pl

from perpscope.core.time import interval_ms
from perpscope.records import CANDLES
from perpscope.venues.archive import common
from perpscope.venues.base import Parsed

KLINE_COLUMNS: common.Columns = {
    "open_time": pl.Int64,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,
    "close_time": pl.Int64,
    "quote_volume": pl.Float64,
    "count": pl.Int64,
    "taker_buy_volume": pl.Float64,
    "taker_buy_quote_volume": pl.Float64,
    "ignore": pl.String,
}

#: dataset → Candle.price_type
PRICE_TYPES = {
    "klines": "trade",
    "markPriceKlines": "mark",
    "indexPriceKlines": "index",
    "premiumIndexKlines": "premium",
}


def parse_klines(ctx: common.FileContext) -> list[Parsed]:
    """Parse one kline-family file (the price type comes from ``ctx.dataset``)."""
    price_type = PRICE_TYPES[ctx.dataset]
    df, hdr, _ = common.read_layout(ctx, [KLINE_COLUMNS])
    open_ms, unit = common.to_epoch_ms(ctx, df.get_column("open_time"), hdr, "open_time")
    close_ms, close_unit = common.to_epoch_ms(ctx, df.get_column("close_time"), hdr, "close_time")
    if unit != close_unit:
        raise ctx.error(f"open_time is in {unit} but close_time in {close_unit}", row=1 + hdr)
    if unit == "us":
        ctx.notes.append(
            "open/close times were in microseconds (Binance spot files from 2025-01-01); converted to ms"
        )

    market = common.market_of_segment(ctx, default=None)
    if market is None:
        market = "spot" if unit == "us" else "perp"
        ctx.notes.append(
            f"market not evident from the path (no spot/ or futures/um/ folder); taken as {market}"
            + (" because the times are in microseconds" if unit == "us" else "")
        )
    sym = ctx.symbol(market)

    step = _interval(ctx, open_ms, close_ms, hdr)
    common.require_increasing(ctx, open_ms, hdr, "open_time")

    cols: list[pl.Expr] = [
        *common.ident(sym),
        pl.lit(sym.market).alias("market"),
        pl.lit(price_type).alias("price_type"),
        pl.lit(step, dtype=pl.Int64).alias("interval_ms"),
        pl.col("ts_ms"),
        pl.col("open"),
        pl.col("high"),
        pl.col("low"),
        pl.col("close"),
    ]
    if price_type == "trade":
        cols += [
            pl.col("volume").alias("volume_base"),
            pl.col("quote_volume").alias("volume_quote"),
            pl.col("count").alias("trades"),
            pl.col("taker_buy_volume").alias("taker_buy_base"),
            pl.col("taker_buy_quote_volume").alias("taker_buy_quote"),
        ]
    elif price_type == "premium":
        ctx.notes.append("premium index OHLC are fractions ((perp − index) / index), not prices")
    else:
        ctx.notes.append(f"{price_type} klines carry no volume; volume columns left empty")
    out = df.with_columns(ts_ms=open_ms).select(cols)
    return [ctx.parsed(CANDLES, out, hdr)]


def _interval(ctx: common.FileContext, open_ms: pl.Series, close_ms: pl.Series, hdr: int) -> int:
    """Bar length in ms: from the file name's interval, checked against close − open + 1 of every row."""
    length = close_ms - open_ms + 1
    if ctx.interval is not None:
        if ctx.interval.endswith("mo"):
            raise ctx.error(
                "calendar-month bars (1mo) have no fixed length and are not supported",
                hint="download a fixed interval such as 1d",
            )
        try:
            step = interval_ms(ctx.interval)
        except ValueError as exc:
            raise ctx.error(str(exc)) from exc
    else:
        step = int(length[0])
        ctx.notes.append(f"bar interval taken from the first row's open/close times: {step} ms")
    bad = length != step
    if bad.any():
        i = int(bad.arg_true()[0])
        raise ctx.error(
            f"close_time − open_time + 1 is {length[i]} ms, expected the {step} ms bar interval",
            row=i + 1 + hdr,
        )
    return step
