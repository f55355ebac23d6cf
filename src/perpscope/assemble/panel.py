"""The metrics panel of one perp and venue scope from the store, with its provenance.

:func:`market_panel` resolves the inputs through :func:`perpscope.assemble.view.resolve` (every source,
bar length and venue of the scope), builds :func:`perpscope.metrics.build_panel` on them, and then
blanks what the resolution knows to be unknown: liquidations of bars no stored series covers, open
interest changes across a change of cover (a sum over 23 venues compared with one over 1 is not a
change), funding older than three settlement intervals. ``perpscope metrics``, ``regimes``, ``report``,
the demo and the API use it.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from perpscope.assemble.errors import StoreInputError
from perpscope.assemble.holdings import holdings_text
from perpscope.assemble.provenance import MeasureProvenance, footnotes, measure_provenance
from perpscope.assemble.records import price_span
from perpscope.assemble.scope import Scope
from perpscope.assemble.view import MarketView, agg_symbol, check_range, resolve
from perpscope.core.format import date_text
from perpscope.core.time import DAY_MS, interval_label
from perpscope.metrics import build_panel
from perpscope.store import Lake
from perpscope.store.reader import read

__all__ = [
    "DEFAULT_SPAN_MS",
    "LOOKBACK_MS",
    "MarketPanel",
    "agg_symbol",
    "latest_panel",
    "market_panel",
    "panel_from",
    "panel_of",
]

#: The panel's longest look-back (funding extremes, bursts), read before the start: 30 days in ms.
LOOKBACK_MS = 30 * DAY_MS

#: Span of a panel when no start is given, ms.
DEFAULT_SPAN_MS = 30 * DAY_MS

_LIQ_COLS = ("liq_long_usd", "liq_short_usd", "liq_usd", "liq_long_share", "liq_usd_z", "liq_burst")


@dataclass(frozen=True)
class MarketPanel:
    """A panel cut to its range, the view it was built from, and its provenance per measure."""

    panel: pl.DataFrame
    view: MarketView
    provenance: list[MeasureProvenance]
    #: The range's first instant, ms UTC; ``panel`` starts ``warm_ms`` earlier when
    #: :func:`market_panel` was asked for warm-up bars (None: it starts at the range).
    start_ms: int | None = None

    def in_range(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame``'s rows from the range's start on (drops the warm-up bars, if any)."""
        if self.start_ms is None:
            return frame
        return frame.filter(pl.col("ts_ms").dt.epoch("ms") >= self.start_ms)

    @property
    def priced(self) -> pl.DataFrame:
        """The bars that have a price: what regimes read (a bar without data is not "neutral"; the
        regime windows are measured in time, so the bars left out leave no false history)."""
        return self.panel.filter(pl.col("close").is_not_null())

    @property
    def notes(self) -> list[str]:
        """Footnote lines: scope, each measure's sources/cover/flags, substitutions."""
        return footnotes(self.view, self.provenance)

    def provenance_json(self) -> dict[str, object]:
        v = self.view
        return {
            "canonical": v.canonical,
            "scope": v.scope.label,
            "price_venue": v.price_venue,
            "bar_ms": v.every_ms,
            "start_ms": v.start_ms,
            "end_ms": v.end_ms,
            "measures": [m.to_json() for m in self.provenance],
            "notes": list(dict.fromkeys(v.notes)),
        }


def panel_from(every_ms: int, frames: dict[str, pl.DataFrame | None]) -> pl.DataFrame:
    """:func:`perpscope.metrics.build_panel` at ``every_ms`` of frames keyed by record name (missing or
    ``None`` = not stored)."""
    return build_panel(
        every_ms,
        candles=frames.get("candles"),
        funding=frames.get("funding"),
        open_interest=frames.get("open_interest"),
        liquidations=frames.get("liquidations"),
        liquidation_totals=frames.get("liquidation_totals"),
        taker_volume=frames.get("taker_volume"),
        long_short_ratios=frames.get("long_short_ratios"),
    )


def _last_bar_end(lk: Lake, view_scope: Scope, symbol: str, every_ms: int) -> int:
    from perpscope.assemble.view import resolve_canonical

    canon, pv = resolve_canonical(lk, symbol, view_scope)
    c = read(lk, "candles", venue=pv, symbol=canon, columns=["ts_ms", "interval_ms"])
    last = c.select((pl.col("ts_ms").dt.epoch("ms") + pl.col("interval_ms")).max()).item()
    return -(-int(last) // every_ms) * every_ms


def _with_cover(panel: pl.DataFrame, view: MarketView, key: str, name: str) -> pl.DataFrame:
    cov = view.covers.get(key)
    if cov is None:
        return panel
    cov = cov.rename({"cover": name})
    # the panel (one series) and the cover are both gapless grids of the view's bars: line them up by
    # position (a join of two year-long 5-minute grids cost a tenth of the whole resolution)
    if panel.height and cov.height:
        t0 = int(cov.get_column("ts_ms").dt.epoch("ms")[0])
        p = panel.get_column("ts_ms").dt.epoch("ms")
        k, n = (int(p[0]) - t0) // view.every_ms, panel.height
        if k >= 0 and k + n <= cov.height and int(p[-1]) - int(p[0]) == (n - 1) * view.every_ms:
            part = cov.slice(k, n)
            if int(part.get_column("ts_ms").dt.epoch("ms")[-1]) == int(p[-1]):
                return panel.with_columns(part.drop("ts_ms").get_columns())
    return panel.join(cov, on="ts_ms", how="left", maintain_order="left")


#: Panel columns the market view adds: ``liq_partial`` (bool) marks a bar whose liquidation total lacks
#: part of its period (a source ends or starts inside it): a lower bound, not the bar's total.
VIEW_COLUMNS = ("liq_partial",)


def _blank_unknowns(panel: pl.DataFrame, view: MarketView) -> pl.DataFrame:
    every = view.every_ms
    if "liq_usd" in panel.columns and "liquidations" in view.covers:
        panel = _with_cover(panel, view, "liquidations", "_liq_cover").rename({"partial": "liq_partial"})
        known = pl.col("_liq_cover").fill_null("") != ""
        panel = panel.with_columns(
            [pl.when(known).then(pl.col(c)).alias(c) for c in _LIQ_COLS if c in panel.columns]
        ).drop("_liq_cover")
    if "open_interest" in view.covers:
        panel = _with_cover(panel, view, "open_interest", "_oi_cover")
        chg = [c for c in panel.columns if c.startswith(("oi_usd_chg_", "oi_base_chg_"))]
        for c in chg:
            w = c.rsplit("_", 1)[-1]
            from perpscope.core.time import interval_ms

            n = interval_ms(w) // every
            same = pl.col("_oi_cover") == pl.col("_oi_cover").shift(n)
            panel = panel.with_columns(pl.when(same).then(pl.col(c)).alias(c))
        panel = panel.drop("_oi_cover")
    if "funding_ts_ms" in panel.columns and "funding_interval_ms" in panel.columns:
        age = pl.col("ts_ms").dt.epoch("ms") + every - pl.col("funding_ts_ms").dt.epoch("ms")
        limit = pl.max_horizontal(3 * pl.col("funding_interval_ms"), pl.lit(2 * every))
        stale = (age > limit).fill_null(False)
        cols = [c for c in panel.columns if c.startswith("funding_") and c not in ("funding_ts_ms",)]
        panel = panel.with_columns([pl.when(~stale).then(pl.col(c)).alias(c) for c in cols])
    return panel


def market_panel(
    lk: Lake,
    scope: Scope | str,
    symbol: str,
    start_ms: int | None,
    end_ms: int | None,
    every_ms: int,
    *,
    warm_ms: int = 0,
) -> MarketPanel:
    """The panel of ``symbol`` within ``scope`` over ``[start_ms, end_ms)`` at ``every_ms`` bars.

    Defaults: ``end_ms`` the end of the last stored candle (rounded up to a bar), ``start_ms`` 30 days
    before it. The panel is built from 30 more days before ``start_ms`` (warm windows) and cut.
    ``warm_ms`` keeps that many ms of bars before ``start_ms`` in the panel (for a reader whose own
    windows look back, as the regime horizons do; :meth:`MarketPanel.in_range` drops them after);
    provenance covers ``[start_ms, end_ms)`` only.

    Raises
    ------
    StoreInputError
        When the scope holds no candles of the symbol, or the range is empty.
    """
    sc = scope if isinstance(scope, Scope) else Scope.parse(scope)
    hi = end_ms if end_ms is not None else _last_bar_end(lk, sc, symbol, every_ms)
    lo = start_ms if start_ms is not None else hi - DEFAULT_SPAN_MS
    # one bar past the end is read: the last bar [hi − every, hi) takes the snapshots stamped up to its
    # end (open interest, funding, ratios known at hi), as it does when a later --to builds it; read to
    # hi only, the same bar carried an older value (10 Oct 2025 20:00, BTC all-venue OI: 85.8 B USD to
    # 11 Oct 00:00 vs 70.5 B USD to a later end). The extra bar is cut off below.
    check_range(lo, hi)  # the range asked, before the extra bar is added
    view = resolve(lk, symbol, sc, lo, hi + every_ms, every_ms, lookback_ms=LOOKBACK_MS + warm_ms)
    view.end_ms = hi
    if not view.frames:
        raise StoreInputError(_nothing_between(lk, view, lo, hi))
    try:
        panel = panel_from(every_ms, dict(view.frames))
    except ValueError as e:
        raise StoreInputError(
            f"cannot build the panel of {view.canonical} at {interval_label(every_ms)}: {e}"
        ) from e
    panel = _blank_unknowns(panel, view)
    cut = panel.filter(pl.col("ts_ms").dt.epoch("ms").is_between(lo - warm_ms, hi - 1))
    prov = measure_provenance(cut, view, lo, hi)
    price = next((m for m in prov if m.measure == "price"), None)
    if price is None or price.missing:
        raise StoreInputError(_nothing_between(lk, view, lo, hi, what=f"{interval_label(every_ms)} prices"))
    return MarketPanel(cut, view, prov, lo if warm_ms else None)


def _nothing_between(lk: Lake, view: MarketView, lo: int, hi: int, what: str = "data") -> str:
    """``no 1h prices of BTC-USDT-PERP (binance) from 2024-01-01 to 2024-02-01; the store holds …``:
    the range asked, then what is there instead (and a bar length that fits, when that is the cause)."""
    held = holdings_text(lk, [view.canonical, agg_symbol(view.canonical)])
    coarse = view.coarse.get("candles")
    fit = ""
    if coarse is not None and coarse.height:
        lens = sorted({int(x) for x in coarse.get_column("interval_ms").unique()})
        names = ", ".join(interval_label(x) for x in lens)
        fit = f" The price bars there are {names}: pass --every a multiple of one."
    return (
        f"no {what} of {view.canonical} ({view.scope.label}) from {date_text(lo, minutes=False)} to "
        f"{date_text(hi, minutes=False)} (UTC, end exclusive).{fit} "
        + (
            f"The store holds for {view.coin}: {held}."
            if held
            else f"The store holds nothing for {view.coin}."
        )
    )


def latest_panel(
    lk: Lake, scope: Scope | str, symbol: str, end_ms: int | None = None, span_ms: int = DEFAULT_SPAN_MS
) -> MarketPanel:
    """The newest ``span_ms`` of ``symbol``'s panel within ``scope``, at the bar length of the newest
    stored candles: what alerts watch.

    The bar length is the finest among the perp trade candles that end last
    (:func:`perpscope.assemble.records.price_span`), so the newest bar is a real one; the panel is
    :func:`market_panel`'s, so an alert reads the numbers ``perpscope metrics --every <that length>``
    prints for the same scope and end. ``end_ms`` (exclusive): only bars closed by then (default: the
    end of the last stored candle).

    Raises
    ------
    StoreInputError
        When the scope holds no trade candles of the symbol (before ``end_ms``).
    """
    span = price_span(lk, scope, symbol, end_ms)
    every = span.latest_bar_ms
    if end_ms is None:
        hi = -(-span.end_ms // every) * every
    else:
        hi = min(end_ms, -(-span.end_ms // every) * every) // every * every
    return market_panel(lk, scope, span.canonical, hi - span_ms, hi, every)


def panel_of(
    lk: Lake, venue: str, symbol: str, start_ms: int | None, end_ms: int | None, every_ms: int
) -> tuple[pl.DataFrame, list[str]]:
    """:func:`market_panel` as ``(panel, footnote lines)`` (``venue`` is a scope: one, a list, ``all``)."""
    mp = market_panel(lk, venue, symbol, start_ms, end_ms, every_ms)
    return mp.panel, mp.notes
