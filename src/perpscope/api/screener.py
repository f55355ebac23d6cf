"""The dashboard's home: one row per perp the store holds a price for, the way a trader scans a market.

Each row reads the symbol's own market panel (:func:`perpscope.assemble.panel.market_panel`, the one
``perpscope metrics`` prints) over the 30 days before its last stored candle, at its newest bar length or
4 h, whichever is longer (the regime classifier's bar, docs/regimes.md):

- price: the last close (quote currency) and its change over the last 24 h, from the newest candles at
  their own bar length (the close of the candle ending 24 h before the last one's end → the last close);
- funding: the last settled rate per its interval and its APR (rate × settlements per 365-day year), or
  where nothing settles (a scope of several venues) the sampled rate per 8 h and its APR (× 3 × 365);
- open interest: the last value (USD) and its change over 1 day;
- liquidations: longs and shorts liquidated in the panel's bars ending within the last 24 h (USD; null
  when the store holds none there);
- regime now: the reading of the last bar with its evidence and the coin's flows
  (:func:`perpscope.assemble.regime_reading.read_regimes` of the panel read with the regime warm-up:
  the labels read with the days before the 30 days, as ``perpscope regimes``, the dashboard's band and
  the demo read them);
- freshness: the end of the last candle (ms UTC) — the page shows its age.

A symbol the store cannot give a panel of keeps its row with the reason instead of numbers. Symbols with
open interest or funding but no candles (no price) are counted, not listed: ``/symbols`` and
``/coverage`` list them. The answer is cached per store version.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from fastapi import APIRouter

from perpscope.api.deps import Source
from perpscope.api.source import DataSource
from perpscope.assemble import StoreInputError
from perpscope.assemble.panel import market_panel
from perpscope.assemble.records import PriceSpan, price_series, price_span, stored_records
from perpscope.assemble.regime_reading import REGIME_WARM_MS, read_regimes
from perpscope.core.format import json_safe
from perpscope.core.palette import REGIME_COLOURS
from perpscope.core.time import DAY_MS, HOUR_MS
from perpscope.store import Lake

router = APIRouter()

#: Bar length at least (the regime classifier's), and the span read before each symbol's last candle.
MIN_EVERY_MS, PANEL_MS = 4 * HOUR_MS, 30 * DAY_MS


@router.get("/screener", summary="Every perp with a price: price, funding, OI, liquidations, regime")
def screener(src: Source) -> dict[str, Any]:
    return screener_answer(src)


def screener_answer(src: DataSource) -> dict[str, Any]:
    """:func:`screener_view` of the server's store, cached per store version (the server computes it at
    start, :func:`perpscope.api.views.precompute`, so the home page's first visitor does not wait)."""
    return src.cached(("screener",), lambda: screener_view(src.lake))


def screener_view(lk: Lake) -> dict[str, Any]:
    """``{"rows": [...], "without_price": n, "columns": {...units}}``: :func:`screener_row` of every
    (venue, perp) with stored candles."""
    series = price_series(lk, "perp")
    rows = [screener_row(lk, v, c) for v, c in series]
    listed = {c for _, c in series}
    others = {c for _, c in lk.partitions("open_interest")} | {c for _, c in lk.partitions("funding")}
    return {
        "rows": rows,
        "colours": REGIME_COLOURS,
        "without_price": len({c for c in others if c.endswith("-PERP")} - listed),
        "units": {
            "price": "quote currency",
            "change_24h": "fraction",
            "funding_rate": "fraction per funding_interval_ms",
            "funding_apr": "fraction per year",
            "oi_usd": "USD",
            "oi_change_1d": "fraction",
            "liq_long_usd_24h": "USD",
            "liq_short_usd_24h": "USD",
            "last_ms": "ms UTC (end of the last candle)",
        },
    }


def _last(panel: pl.DataFrame, col: str) -> Any:
    if col not in panel.columns:
        return None
    s = panel.get_column(col).drop_nulls()
    return s[-1] if s.len() else None


def _closes_24h(lk: Lake, span: PriceSpan) -> tuple[float | None, float | None]:
    """The last close and the close 24 h before it, from the symbol's newest candles at their own bar
    length (an hourly series gives an exact 24 h even when the 4 h panel's last bar is still open); the
    earlier close is None when no candle of that length ends exactly 24 h before (a gap)."""
    lo = span.end_ms - DAY_MS - span.latest_bar_ms
    c = stored_records(lk, "candles", span.venue, span.canonical, lo, None)
    c = c.filter(
        (pl.col("market") == "perp")
        & (pl.col("price_type") == "trade")
        & (pl.col("interval_ms") == span.latest_bar_ms)
    ).with_columns((pl.col("ts_ms").dt.epoch("ms") + pl.col("interval_ms")).alias("end_ms"))
    last = c.filter(pl.col("end_ms") == span.end_ms)
    prev = c.filter(pl.col("end_ms") == span.end_ms - DAY_MS)
    return (
        float(last["close"][-1]) if last.height else None,
        float(prev["close"][-1]) if prev.height else None,
    )


def screener_row(lk: Lake, venue: str, canonical: str) -> dict[str, Any]:
    """One row of the screener (see the module docstring); ``error`` holds the reason when the store
    cannot give the symbol's panel."""
    row: dict[str, Any] = {"venue": venue, "canonical": canonical, "error": None}
    try:
        span = price_span(lk, venue, canonical)
        every = max(span.latest_bar_ms, MIN_EVERY_MS)
        end = -(-span.end_ms // every) * every
        mp = market_panel(lk, venue, canonical, end - PANEL_MS, end, every, warm_ms=REGIME_WARM_MS)
    except StoreInputError as e:
        return {**row, "error": str(e)}
    panel = mp.in_range(mp.priced)
    if panel.is_empty():
        return {**row, "error": "no bar with a price in the 30 days before the last candle"}
    ms = panel.get_column("ts_ms").dt.epoch("ms")
    day = panel.filter(ms + every > span.end_ms - DAY_MS)  # the bars ending within the last 24 h
    close, prev = _closes_24h(lk, span)
    rate, interval = _last(panel, "funding_rate"), _last(panel, "funding_interval_ms")
    apr = _last(panel, "funding_apr")
    sampled = None
    if rate is None:  # several venues: no settlement of their own; the OI-weighted sampled rate per 8 h
        sampled = _last(panel, "funding_sampled_8h")
        apr = None if sampled is None else sampled * 3 * 365
    liq = {
        side: (float(day[f"liq_{side}_usd"].sum()) if day[f"liq_{side}_usd"].is_not_null().any() else None)
        if f"liq_{side}_usd" in day.columns
        else None
        for side in ("long", "short")
    }
    regime: dict[str, Any] = {"regime": None, "since_ms": None, "evidence": None, "flow_evidence": None}
    try:
        r = read_regimes(lk, mp, venue).now()
        if r.height:
            since = r.get_column("since_ms")
            if since.dtype.is_temporal():
                since = since.dt.epoch("ms")
            regime = {
                "regime": r["regime"][0],
                "since_ms": since[0],
                "evidence": r["evidence"][0],
                "flow_evidence": r["flow_evidence"][0] if "flow_evidence" in r.columns else None,
            }
    except (ValueError, pl.exceptions.PolarsError) as e:  # too few bars or a measure the labels need
        regime["evidence"] = f"no reading: {e}"
    return json_safe(
        {
            **row,
            "every_ms": every,
            "price": close,
            "change_24h": None if not prev or close is None else close / prev - 1,
            "funding_rate": rate,
            "funding_interval_ms": interval,
            "funding_sampled_8h": sampled,
            "funding_apr": apr,
            "oi_usd": _last(panel, "oi_usd"),
            "oi_change_1d": _last(panel, "oi_usd_chg_1d"),
            "liq_long_usd_24h": liq["long"],
            "liq_short_usd_24h": liq["short"],
            **regime,
            "last_ms": span.end_ms,
            "first_ms": span.first_ms,
        }
    )
