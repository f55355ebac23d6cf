"""A cascade's starting state from the store, and the fragility curve of that state.

The state is the heatmap ensemble's inferred positions over the 30 days before ``end`` (or a user's
positions CSV); liquidity is the latest stored ``book_depth`` snapshot when there is one within a day,
otherwise the square-root impact law fitted on the last 7 days of bars (with Y = 1 assumed when the bars
carry no taker-buy volume to fit it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from perpscope.assemble.errors import StoreInputError
from perpscope.assemble.heatmap import (
    DEFAULT_SPAN_MS,
    heatmap_bars,
    heatmap_frames,
    last_candle_end,
    pick_model,
)
from perpscope.assemble.scope import Scope
from perpscope.assemble.view import resolve_canonical
from perpscope.cascade import (
    CascadeConfig,
    CascadeInputError,
    ImpactCurve,
    Liquidity,
    PositionBook,
    book_from_table,
    curve_from_depth,
    ensemble_books,
    fit_sqrt_impact,
    fragility,
)
from perpscope.cascade.liquidity import sqrt_impact_prior
from perpscope.cascade.replay import impact_spread
from perpscope.core.time import DAY_MS, ms_to_iso
from perpscope.heatmap.liqprice import brackets_for
from perpscope.store import Lake
from perpscope.store.reader import read

#: Bars with volume the impact law needs (as :func:`perpscope.cascade.liquidity.sqrt_impact_prior`).
MIN_VOLUME_BARS = 30

#: Monte Carlo paths of the API's and dashboard's fragility curve (``perpscope cascade`` uses more).
PROVIDER_PATHS = 200


@dataclass(frozen=True)
class CascadeState:
    """What a cascade starts from: books, price, liquidity, and a line saying where they came from."""

    books: list[PositionBook]
    price: float
    liquidity: Liquidity
    end_ms: int
    note: str


def _traded() -> pl.Expr:
    """A bar with traded volume (in quote currency or base units) — what the impact law is fitted on."""
    return (pl.col("volume_quote") > 0) | (pl.col("volume_base") > 0)


def _has_volume(bars: pl.DataFrame) -> bool:
    return bars.height > 0 and int(bars.select(_traded().fill_null(False).sum()).item()) >= MIN_VOLUME_BARS


def _last_traded_bars(lk: Lake, venue: str, symbol: str, end: int) -> tuple[pl.DataFrame, str]:
    """The 7 days of bars before the last stored perp candle with traded volume before ``end``, and a note.

    Some stores end with price-only candles (a vendor export without volume); the impact law then comes
    from the latest week that has volume, and the note says which.
    """
    canon, pv = resolve_canonical(lk, symbol, Scope.parse(venue))
    c = read(
        lk, "candles", venue=pv, symbol=canon, end_ms=end, columns=["ts_ms", "price_type", "volume_quote"]
    )
    c = c.filter((pl.col("price_type") == "trade") & pl.col("volume_quote").is_not_null())
    if c.is_empty():
        raise StoreInputError(
            f"the cascade's impact law needs traded volume: no stored {pv} {canon} candle before the instant "
            "asked has any; import klines with volume (perpscope import PATH)"
        )
    last = int(c.get_column("ts_ms").dt.epoch("ms").max()) + 1  # type: ignore[arg-type]
    bars = heatmap_bars(heatmap_frames(lk, venue, symbol, last - 7 * DAY_MS, last), None)
    return bars, f"impact law from the 7 days to {ms_to_iso(last)[:16]} (the latest bars with volume)"


def _liquidity(lk: Lake, venue: str, symbol: str, end: int, recent: pl.DataFrame) -> Liquidity:
    depth = read(lk, "book_depth", venue=venue, symbol=symbol, start_ms=end - DAY_MS, end_ms=end)
    if depth.height:
        return Liquidity(curve_from_depth(depth, "bid"), curve_from_depth(depth, "ask"))
    note = ""
    if not _has_volume(recent):
        recent, note = _last_traded_bars(lk, venue, symbol, end)
    liq = _liquidity_from_bars(recent)
    if note:
        liq = Liquidity(
            ImpactCurve(liq.bid.move, liq.bid.cum_usd, f"{liq.bid.source}; {note}"),
            ImpactCurve(liq.ask.move, liq.ask.cum_usd, f"{liq.ask.source}; {note}"),
            liq.depth_log_sd,
        )
    return liq


def _liquidity_from_bars(recent: pl.DataFrame) -> Liquidity:
    try:
        fit = fit_sqrt_impact(recent)
        return Liquidity(fit.curve(), fit.curve(), impact_spread(recent))
    except CascadeInputError:  # no taker flow to fit Y: assume Y = 1, spread depth wider
        law = sqrt_impact_prior(recent).curve()
        law = ImpactCurve(law.move, law.cum_usd, law.source + " (assumed, no taker flow to fit)")
        return Liquidity(law, law, 0.7)


def cascade_state(
    lk: Lake,
    venue: str,
    symbol: str,
    end: int | None = None,
    *,
    every: str | None = None,
    positions: Path | None = None,
) -> CascadeState:
    """Books (heatmap ensemble, or the ``positions`` CSV), last close and liquidity of a symbol before
    ``end`` (ms, exclusive; default: after the last candle).

    Raises
    ------
    StoreInputError
        When the store lacks the candles, or the books or liquidity cannot be built from it.
    """
    end = end if end is not None else last_candle_end(lk, venue, symbol)
    bars = heatmap_bars(heatmap_frames(lk, venue, symbol, end - DEFAULT_SPAN_MS, end), every)
    ts = pl.col("ts_ms").dt.epoch("ms")
    bars = bars.filter(ts + pl.col("interval_ms") <= end) if bars.height > 1 else bars
    price = float(bars["close"][-1])
    # one venue: its own formula and the symbol's sourced tables; several: Binance's (pooled OI), named
    venues = [v for v in venue.split(",") if v and v != "all"]
    br = brackets_for(symbol, venues[0] if len(venues) == 1 else "binance", end - 1)
    try:
        if positions is not None:
            table = pl.read_csv(positions)
            books = [book_from_table(table, ts_ms=end - 1, brackets=br, label=positions.name)]
        else:
            chosen = pick_model("ensemble", bars)
            members = chosen if isinstance(chosen, list) else [chosen]
            books, price = ensemble_books(bars, members=members, brackets=br)
        liq = _liquidity(lk, venue, symbol, end, bars.filter(ts >= end - 7 * DAY_MS))
    except CascadeInputError as e:
        raise StoreInputError(str(e)) from e
    note = (
        f"{len(books)} book(s): {books[0].label}{' …' if len(books) > 1 else ''}; "
        f"liquidity: {liq.bid.source} (depth log-sd {liq.depth_log_sd:.2f}); "
        f"mechanics: {br.note(end - 1)}"
    )
    return CascadeState(books, price, liq, end, note)


def fragility_of(
    lk: Lake, venue: str, symbol: str, end: int | None = None, *, paths: int = PROVIDER_PATHS, seed: int = 0
) -> tuple[CascadeState, pl.DataFrame]:
    """The state of :func:`cascade_state` and its fragility curve (:func:`perpscope.cascade.fragility`)
    over ``paths`` Monte Carlo paths."""
    st = cascade_state(lk, venue, symbol, end)
    return st, fragility(st.books, st.price, st.liquidity, CascadeConfig(paths=paths, seed=seed))


def fragility_provider(
    data: Path | Lake, paths: int = PROVIDER_PATHS
) -> Callable[[str, str, int], pl.DataFrame]:
    """``(venue, canonical, end_ms) -> fragility frame`` over the store ``data`` (a folder, or a lake:
    an ``s3://`` one), as ``perpscope cascade`` builds it: the API's and the report's cascade view."""
    lk = data if isinstance(data, Lake) else Lake(data)

    def fragility_at(venue: str, canonical: str, end_ms: int) -> pl.DataFrame:
        return fragility_of(lk, venue, canonical, end_ms, paths=paths)[1]

    return fragility_at
