"""The first look: per-symbol summaries and price / funding / OI panels, from what the store holds."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from perpscope.core.time import DAY_MS
from perpscope.metrics.funding import with_annualized
from perpscope.metrics.summary import SymbolSummary, summarize
from perpscope.store import Lake
from perpscope.store.reader import read


@dataclass(frozen=True)
class SymbolView:
    """A symbol's summary and the frames its panels draw (candles of the finest interval).

    ``episodes`` (optional, :func:`perpscope.regimes.episodes` over the panel's window) draws the regime
    band under the price; callers that classify the symbol set it with :func:`dataclasses.replace`.
    """

    venue: str
    summary: SymbolSummary
    candles: pl.DataFrame
    funding: pl.DataFrame
    open_interest: pl.DataFrame
    episodes: pl.DataFrame | None = None


def _finest_trade_candles(c: pl.DataFrame) -> pl.DataFrame:
    c = c.filter(pl.col("price_type") == "trade")
    if c.is_empty():
        return c
    # the longest-running series, finest interval among those: the panel shows the whole story
    spans = c.group_by("interval_ms").agg(
        pl.len().alias("n"), (pl.col("ts_ms").max() - pl.col("ts_ms").min()).alias("span")
    )
    best = spans.sort(["span", "interval_ms"], descending=[True, False]).row(0, named=True)["interval_ms"]
    return c.filter(pl.col("interval_ms") == best).sort("ts_ms")


def collect_overview(
    lake: Lake, window_ms: int = 7 * DAY_MS, market: str = "perp", panel_ms: int = 30 * DAY_MS
) -> list[SymbolView]:
    """One view per (venue, symbol) with trade candles in ``market``.

    The summary covers ``window_ms`` and the panels ``panel_ms``, both ending at the symbol's last candle.
    """
    views = []
    for venue, canon in lake.partitions("candles"):
        if not canon.endswith("-PERP" if market == "perp" else "-SPOT"):
            continue
        candles = _finest_trade_candles(read(lake, "candles", venue=venue, symbol=canon))
        if candles.is_empty():
            continue
        end_ms = int(candles["ts_ms"].dt.epoch("ms").max()) + int(candles["interval_ms"][0])  # type: ignore[arg-type]
        start_ms = end_ms - window_ms
        funding = read(lake, "funding", venue=venue, symbol=canon)
        oi = read(lake, "open_interest", venue=venue, symbol=canon)
        liq = read(lake, "liquidations", venue=venue, symbol=canon)
        tot = read(lake, "liquidation_totals", venue=venue, symbol=canon)
        summary = summarize(canon, start_ms, end_ms, candles, funding, oi, liq, tot)
        lo = pl.lit(end_ms - panel_ms).cast(pl.Datetime("ms", "UTC"))
        candles, funding, oi = (f.filter(pl.col("ts_ms") >= lo) for f in (candles, funding, oi))
        views.append(
            SymbolView(venue, summary, candles, with_annualized(funding) if funding.height else funding, oi)
        )
    return views


def liquidation_table(lake: Lake, top: int = 15) -> pl.DataFrame:
    """Recorded liquidation events by symbol: long and short USD, count, first and last event (ms)."""
    frames = [read(lake, "liquidations", venue=v, symbol=c) for v, c in lake.partitions("liquidations")]
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame()
    df = pl.concat(frames)
    return (
        df.group_by("venue", "canonical")
        .agg(
            pl.col("notional_usd").filter(pl.col("side") == "long").sum().alias("long_usd"),
            pl.col("notional_usd").filter(pl.col("side") == "short").sum().alias("short_usd"),
            pl.len().alias("events"),
            pl.col("ts_ms").min().dt.epoch("ms").alias("first_ms"),
            pl.col("ts_ms").max().dt.epoch("ms").alias("last_ms"),
        )
        .with_columns((pl.col("long_usd") + pl.col("short_usd")).alias("total_usd"))
        .sort("total_usd", descending=True)
        .head(top)
    )
