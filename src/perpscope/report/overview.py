"""The first look: per-symbol summaries and price / funding / OI panels, read through the market view.

Each (venue, perp) with stored candles is read as ``perpscope metrics SYMBOL --venue VENUE`` reads it
(:func:`perpscope.assemble.panel.market_panel`: every source and bar length, the coin's figures where
the pair has none, stale values left out), so the overview shows the same numbers, with the same
provenance footnotes.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from perpscope.assemble import StoreInputError
from perpscope.assemble.panel import market_panel
from perpscope.assemble.records import price_series, price_span, recorded_liquidations
from perpscope.core.time import DAY_MS, HOUR_MS
from perpscope.metrics.funding import with_annualized
from perpscope.metrics.summary import SymbolSummary, summarize
from perpscope.store import Lake

#: The overview's shortest bar: an hour (a 30-day chart holds at most 720 candles); longer when the
#: newest stored candles are longer.
MIN_BAR_MS = HOUR_MS


@dataclass(frozen=True)
class SymbolView:
    """A symbol's summary and the frames its panels draw, from its market view.

    ``candles`` are the view's perp trade bars (at least :data:`MIN_BAR_MS` long), ``funding`` its
    funding rows (annualized), ``open_interest`` the panel's open interest per bar (``ts_ms`` = bar
    open, the value known at the bar's end, as ``perpscope metrics`` shows it);
    ``notes`` the provenance footnotes (scope and bar length, each measure's stored series, flags).
    ``episodes`` (optional, :func:`perpscope.regimes.episodes` over the panel's window) draws the regime
    band under the price; callers that classify the symbol set it with :func:`dataclasses.replace`.
    """

    venue: str
    summary: SymbolSummary
    candles: pl.DataFrame
    funding: pl.DataFrame
    open_interest: pl.DataFrame
    episodes: pl.DataFrame | None = None
    notes: tuple[str, ...] = ()


def _since(df: pl.DataFrame | None, start_ms: int) -> pl.DataFrame:
    if df is None or df.is_empty():
        return pl.DataFrame()
    return df.filter(pl.col("ts_ms").dt.epoch("ms") >= start_ms).sort("ts_ms")


def symbol_view(
    lake: Lake, venue: str, symbol: str, window_ms: int = 7 * DAY_MS, panel_ms: int = 30 * DAY_MS
) -> SymbolView:
    """One symbol's view within the venue scope ``venue``: the summary over the last ``window_ms`` and
    the panels over the last ``panel_ms`` of its stored candles (both ending at the last one's end).

    Raises
    ------
    StoreInputError
        When the scope holds no trade candles of the symbol.
    """
    span = price_span(lake, venue, symbol)
    every = max(span.latest_bar_ms, MIN_BAR_MS)
    end_ms = -(-span.end_ms // every) * every
    mp = market_panel(lake, venue, span.canonical, end_ms - panel_ms, end_ms, every)
    f = mp.view.frames
    candles = f.get("candles")
    if candles is not None:
        candles = candles.filter((pl.col("market") == "perp") & (pl.col("price_type") == "trade"))
    lo = end_ms - panel_ms
    candles, funding = (_since(x, lo) for x in (candles, f.get("funding")))
    # open interest per bar as the panel has it (known at the bar's end): metrics' oi_usd
    cols = [c for c in ("ts_ms", "interval_ms", "oi_usd", "oi_base") if c in mp.panel.columns]
    oi = mp.panel.select(cols) if "oi_usd" in cols else pl.DataFrame()
    if oi.height:
        oi = _since(oi.filter(pl.any_horizontal(pl.col(c).is_not_null() for c in cols[2:])), lo)
    summary = summarize(
        span.canonical,
        end_ms - window_ms,
        end_ms,
        candles,
        funding,
        oi,
        pl.DataFrame(),  # events are in the view's per-bar totals (never added twice)
        _since(f.get("liquidation_totals"), end_ms - window_ms),
    )
    funding = with_annualized(funding) if funding.height else funding
    return SymbolView(venue, summary, candles, funding, oi, notes=tuple(mp.notes))


def collect_overview(
    lake: Lake, window_ms: int = 7 * DAY_MS, panel_ms: int = 30 * DAY_MS
) -> list[SymbolView]:
    """One :func:`symbol_view` per (venue, perp) with stored trade candles; a series the store cannot
    give a view of is left out."""
    views = []
    for venue, canon in price_series(lake, "perp"):
        try:
            views.append(symbol_view(lake, venue, canon, window_ms, panel_ms))
        except StoreInputError:
            continue
    return views


def liquidation_table(lake: Lake, top: int = 15) -> pl.DataFrame:
    """Recorded liquidation events by symbol: long and short USD, count, first and last event (ms):
    :func:`perpscope.assemble.records.recorded_liquidations`."""
    return recorded_liquidations(lake, top)
