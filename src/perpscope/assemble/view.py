"""One market view: for a perp (or coin), a scope of venues, a range and a bar length, the best series of
each measure from everything the store holds, and where every bar came from.

This is the one door between the store and the computations (``docs/sources.md`` has the rules):

- **Bar lengths are stitched** (:mod:`perpscope.metrics.stitch`): each stretch uses the finest stored
  length that covers it, coarser data elsewhere. Price bars coarser than the bar asked for stay at their
  own length in :attr:`MarketView.coarse` (said in the notes), never an exception.
- **Sources never depend on import order**: the store combines them by precedence on read.
- **Scope**: price, volume, taker flow and long/short ratios come from the scope's first venue that
  has candles (:data:`~perpscope.assemble.scope.VENUE_ORDER`). Open interest and liquidations are
  summed per bar over the stored series that cover the scope without overlap
  (:mod:`perpscope.assemble.cover`): an aggregate import (``all``, ``binance+bybit+okx``) serves a
  scope containing it and is never added to the per-venue rows it contains. A one-venue scope reads the
  pair first and the venue's coin aggregate (``BASE-AGG-PERP``, all its contracts of the coin) where the
  pair has nothing; a several-venue scope reads coins first. Funding of one venue is its own; of
  several, the OI-weighted mean per 8h of the venues' latest rates (equal weights where a venue's OI is
  unknown), per venue kept in :attr:`MarketView.by_venue`.
- **Nothing stale is carried**: a snapshot (open interest, funding) older than twice its own sampling
  interval at a bar's end is not used for that bar.

The frames handed on are record-shaped, one series labelled ``venue = scope label`` and the perp's
canonical symbol, so :func:`perpscope.metrics.build_panel` runs on them unchanged.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from perpscope.assemble import measures
from perpscope.assemble.errors import StoreInputError
from perpscope.assemble.holdings import holdings_text, nearest_symbols
from perpscope.assemble.scope import OTHER_WEIGHTINGS, Scope, label_venues, ordered
from perpscope.assemble.view_model import MarketView, Part, agg_symbol, stored_venues
from perpscope.core.format import date_text
from perpscope.core.time import interval_label
from perpscope.records import compact, from_ccxt, is_canonical, market_of
from perpscope.store import Lake
from perpscope.store.reader import read, resolve_symbols


def resolve_canonical(lk: Lake, symbol: str, scope: Scope) -> tuple[str, str]:
    """(canonical perp, price venue) that ``symbol`` names in the store within ``scope``.

    ``symbol`` is a venue spelling (``BTCUSDT``), a canonical symbol or a coin (``BTC`` → its USDT perp).

    Raises
    ------
    StoreInputError
        When no venue of the scope holds candles of it; the message lists what the store holds.
    """
    if not lk.records_present():
        raise StoreInputError(
            f"the store at {lk.root} is empty: import data (perpscope import PATH), or pass --data-dir "
            "(after `perpscope demo`: --data-dir perpscope-demo/data)"
        )
    s = symbol.strip().upper()
    ccxt = from_ccxt(s)
    if ccxt is not None and market_of(ccxt) == "spot":
        raise StoreInputError(
            f"{symbol} is ccxt's spelling of the spot market {ccxt}; the analyses read a perpetual: "
            f"{s}:{s.split('/')[1]} (ccxt) or {compact(ccxt)}"
        )
    if ccxt is not None:
        canons = [ccxt]
    elif is_canonical(s):
        canons = [s]
    elif s.isalnum() and not any(s.endswith(q) for q in ("USDT", "USDC", "USD", "BUSD")):
        canons = [f"{s}-USDT-PERP"]
    else:
        canons = resolve_symbols(lk, "candles", None, s)
    for c in canons:
        venues = [v for v in stored_venues(lk, "candles", c) if scope.serves(v) and label_venues(v)]
        if venues:
            return c, ordered(venues)[0]
    # a scope whose venues hold no candles of the pair (OI and funding exports only) borrows the price
    # of the store's first venue that has them; resolve() says so in the notes
    for c in canons:
        venues = [v for v in stored_venues(lk, "candles", c) if label_venues(v) is not None]
        held = [
            v
            for rec in ("open_interest", "funding", "liquidation_totals", "liquidations")
            for x in (c, agg_symbol(c))
            for v in stored_venues(lk, rec, x)
            if scope.serves(v)
        ]
        if venues and held:
            return c, ordered(venues)[0]
    coin = canons[0].split("-")[0] if canons else s.removesuffix("USDT")
    pair = canons[0] if canons else f"{coin}-USDT-PERP"
    have = holdings_text(lk, [pair, agg_symbol(pair)])
    near = [] if have else [x for x in nearest_symbols(lk, s) if x != s]
    raise StoreInputError(
        f"no candles of {symbol} for venue scope {scope.label} in the store at {lk.root}; "
        + (f"it holds for {coin}: {have}. " if have else f"it holds nothing for {coin}. ")
        + (f"Did you mean {' or '.join(near)}? " if near else "")
        + "Import candles (perpscope import PATH), choose another --venue, or pass --data-dir"
    )


def _trade_lengths(lk: Lake, symbol: str, scope: Scope | str, start_ms: int, end_ms: int) -> pl.DataFrame:
    """Per perp trade candle length stored for ``symbol`` on the scope's price venue in the range: the
    length (``interval_ms``) and the time its bars cover (``ms``), finest first."""
    sc = scope if isinstance(scope, Scope) else Scope.parse(scope)
    canon, pv = resolve_canonical(lk, symbol, sc)
    c = read(lk, "candles", venue=pv, symbol=canon, start_ms=start_ms, end_ms=end_ms,
             columns=["price_type", "interval_ms"], sources="all")  # fmt: skip
    return (
        c.filter(pl.col("price_type") == "trade")
        .group_by("interval_ms")
        .agg((pl.len() * pl.col("interval_ms").first()).alias("ms"))
        .sort("interval_ms")
    )


def covering_price_bar_ms(
    lk: Lake, symbol: str, scope: Scope | str, start_ms: int, end_ms: int
) -> int | None:
    """The finest perp trade candle length stored for ``symbol`` (the scope's price venue) whose bars
    cover at least 90% of ``[start_ms, end_ms)`` — else the length covering most of it: the default bar
    of a model run over the range (a 5-minute file of ten days inside an hourly history gives 1h over
    three weeks). None when no candle overlaps the range."""
    cov = _trade_lengths(lk, symbol, scope, start_ms, end_ms)
    if cov.is_empty():
        return None
    full = cov.filter(pl.col("ms") >= 0.9 * (end_ms - start_ms))
    best = full if full.height else cov.sort("ms", descending=True)
    return int(best.get_column("interval_ms")[0])


def finest_price_bar_ms(lk: Lake, symbol: str, scope: Scope | str, start_ms: int, end_ms: int) -> int | None:
    """The finest perp trade candle length (ms) stored for ``symbol`` on the scope's price venue that
    overlaps ``[start_ms, end_ms)``; None when there is none."""
    cov = _trade_lengths(lk, symbol, scope, start_ms, end_ms)
    return int(cov.get_column("interval_ms")[0]) if cov.height else None


def check_range(start_ms: int, end_ms: int) -> None:
    """Raise :class:`StoreInputError` naming a reversed or empty ``[start_ms, end_ms)``."""
    if end_ms <= start_ms:
        a, b = date_text(start_ms), date_text(end_ms)
        raise StoreInputError(
            f"the range is reversed: --from {a} is after --to {b} (UTC); swap them"
            if end_ms < start_ms
            else f"the range is empty: --from and --to are both {a} (UTC) and --to is exclusive"
        )


def resolve(
    lk: Lake, symbol: str, scope: Scope, start_ms: int, end_ms: int, every_ms: int, lookback_ms: int = 0
) -> MarketView:
    """The :class:`MarketView` of ``symbol`` within ``scope`` over ``[start_ms, end_ms)`` at ``every_ms``.

    ``lookback_ms`` more history is read before ``start_ms`` (warm windows); bars are aligned to the
    epoch. See the module docstring for the rules.

    Raises
    ------
    StoreInputError
        When the scope holds no candles of the symbol, or the range is empty.
    """
    check_range(start_ms, end_ms)
    canonical, pv = resolve_canonical(lk, symbol, scope)
    lo = (start_ms - lookback_ms) // every_ms * every_ms
    view = MarketView(canonical.split("-")[0], canonical, scope, start_ms, end_ms, every_ms, pv)
    if not scope.serves(pv):
        view.notes.append(f"price: {pv} {canonical} (no venue of {scope.label} holds candles of it)")
    grid_open = np.arange(lo, end_ms, every_ms, dtype=np.int64)
    measures.prices(lk, view, lo)
    measures.open_interest(lk, view, lo, grid_open)
    measures.liquidations(lk, view, lo, grid_open)
    measures.funding(lk, view, lo, grid_open)
    return view


def scope_venues(lk: Lake, symbol: str) -> list[str]:
    """Venues holding any record of ``symbol``'s pair or coin aggregate (single venues, in
    :data:`~perpscope.assemble.scope.VENUE_ORDER`): what a venue picker offers beside ``all``."""
    canon, _ = resolve_canonical(lk, symbol, Scope(None))
    found = {
        v
        for rec in ("candles", "open_interest", "funding", "liquidation_totals", "liquidations")
        for c in (canon, agg_symbol(canon))
        for v in stored_venues(lk, rec, c)
        if label_venues(v) is not None and "+" not in v and v not in OTHER_WEIGHTINGS
    }
    return ordered(found)


def default_window(lk: Lake, symbol: str, scope: Scope | str, span_ms: int) -> tuple[int, int]:
    """The latest ``span_ms`` where the scope's price, open interest and funding all exist (ms, end
    exclusive): the end is the earliest of their last instants (price alone when the others are not
    stored), the start ``span_ms`` before it.
    """
    sc = scope if isinstance(scope, Scope) else Scope.parse(scope)
    canon, pv = resolve_canonical(lk, symbol, sc)
    price = read(lk, "candles", venue=pv, symbol=canon, columns=["ts_ms", "interval_ms"], sources="all")
    end = int(price.select((pl.col("ts_ms").dt.epoch("ms") + pl.col("interval_ms")).max()).item())
    lasts = []
    for rec in ("open_interest", "funding"):
        last = [
            int(f.get_column("ts_ms").dt.epoch("ms").max())  # type: ignore[arg-type]
            for c in (canon, agg_symbol(canon))
            for v in stored_venues(lk, rec, c)
            if sc.serves(v)
            for f in [read(lk, rec, venue=v, symbol=c, columns=["ts_ms"], sources="all")]
            if f.height
        ]
        if last:
            lasts.append(max(last))
    end = min([end, *lasts])
    return end - span_ms, end


def source_lines(view: MarketView, measures: tuple[str, ...] | None = None) -> list[str]:
    """One line per measure naming the stored series behind it (``measure: venue symbol lengths
    (formats); …``), then the view's notes: the footnote of outputs that show no panel (heatmap,
    cascade)."""
    by: dict[str, list[Part]] = {}
    for p in view.parts:
        if measures is None or p.measure in measures:
            by.setdefault(p.measure, []).append(p)
    head = view_headline(view)
    lines = [
        f"{m}: {'; '.join(p.describe() for p in ps[:4])}{' …' if len(ps) > 4 else ''}" for m, ps in by.items()
    ]
    return [head, *lines, *dict.fromkeys(view.notes)]


def view_headline(view: MarketView) -> str:
    """``BTC-USDT-PERP · venues: all (price from binance) · 1h bars``: the first footnote line."""
    bars = interval_label(view.every_ms)
    return f"{view.canonical} · venues: {view.scope.label} (price from {view.price_venue}) · {bars} bars"
