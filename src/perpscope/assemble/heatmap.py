"""A liquidation heatmap of one symbol from the store: its model inputs, the model choice, the run.

:func:`heatmap_of` is what ``perpscope heatmap``, the demo and the alerts run; :func:`auto_model` is the
model choice the API shares.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from perpscope.assemble.errors import StoreInputError
from perpscope.assemble.holdings import holdings_text
from perpscope.assemble.scope import Scope
from perpscope.assemble.view import (
    MarketView,
    agg_symbol,
    check_range,
    covering_price_bar_ms,
    resolve,
    resolve_canonical,
    source_lines,
)
from perpscope.core.format import date_text
from perpscope.core.time import DAY_MS, interval_ms
from perpscope.heatmap import (
    DEFAULT_MODEL,
    DEFAULT_TRADE_FLOW_MODEL,
    EnsembleRun,
    HeatmapRun,
    ensemble_members,
    hot_zones,
    model_inputs,
    run_ensemble,
    run_model,
)
from perpscope.heatmap.calibration import describe
from perpscope.heatmap.models import Model
from perpscope.store import Lake
from perpscope.store.reader import read

#: Model names a user can choose: ``auto`` = oi-change when open interest is stored, else trade-flow.
MODELS = ("auto", "oi-change", "trade-flow", "ensemble")

#: Bars a heatmap looks back over when no start is given, ms.
DEFAULT_SPAN_MS = 30 * DAY_MS


def last_candle_end(lk: Lake, venue: str, symbol: str) -> int:
    """One ms after the open of the last stored perp trade candle of ``symbol`` on the scope's price venue
    (an exclusive end, ms).

    Raises
    ------
    StoreInputError
        When the store holds no candles for it.
    """
    canon, pv = resolve_canonical(lk, symbol, Scope.parse(venue))
    c = read(lk, "candles", venue=pv, symbol=canon, columns=["ts_ms"], sources="all")
    if c.is_empty():
        raise StoreInputError(f"no candles for {venue} {symbol} in the store at {lk.root}")
    return int(c.get_column("ts_ms").dt.epoch("ms").max()) + 1  # type: ignore[arg-type]


def heatmap_frames(
    lk: Lake, venue: str, symbol: str, start: int, end: int, *, every_ms: int | None = None
) -> dict[str, pl.DataFrame]:
    """The records a heatmap model reads, ``[start, end)`` ms, resolved through the market view
    (:func:`perpscope.assemble.view.resolve`: every source and bar length, open interest summed over the
    venue scope); empty frames for records not stored.

    ``every_ms`` defaults to the finest perp trade candle length that covers the range
    (:func:`perpscope.assemble.view.covering_price_bar_ms`). :func:`heatmap_inputs` also reads open
    interest from another stored series (``oi_venue`` / ``oi_symbol``).
    """
    return heatmap_inputs(lk, venue, symbol, start, end, every_ms=every_ms)[0]


def heatmap_inputs(
    lk: Lake,
    venue: str,
    symbol: str,
    start: int,
    end: int,
    oi_venue: str | None = None,
    oi_symbol: str | None = None,
    every_ms: int | None = None,
) -> tuple[dict[str, pl.DataFrame], MarketView]:
    """:func:`heatmap_frames` and the :class:`~perpscope.assemble.view.MarketView` they came from."""
    scope = Scope.parse(venue)
    check_range(start, end)
    every = every_ms or covering_price_bar_ms(lk, symbol, scope, start, end)
    if every is None:
        canon, _ = resolve_canonical(lk, symbol, scope)
        have = holdings_text(lk, [canon, agg_symbol(canon)])
        raise StoreInputError(
            f"no perp trade candles of {canon} ({scope.label}) from {date_text(start, minutes=False)} to "
            f"{date_text(end, minutes=False)} (UTC, end exclusive). The store holds: {have or 'none of it'}."
        )
    view = resolve(lk, symbol, scope, start, end, every)
    f = view.frames

    def get(record: str, market: str | None = None) -> pl.DataFrame:
        df = f.get(record, pl.DataFrame())
        if market is not None and df.height:
            df = df.filter(pl.col("market") == market)
        return df.drop("complete") if "complete" in df.columns else df

    oi = get("open_interest")
    if oi_venue or oi_symbol:
        oi = read(
            lk,
            "open_interest",
            venue=oi_venue or venue,
            symbol=oi_symbol or symbol,
            start_ms=start,
            end_ms=end,
        )
    frames = {
        "candles": get("candles", "perp"),
        "open_interest": oi,
        "funding": get("funding"),
        "long_short_ratios": get("long_short_ratios"),
        "taker_volume": get("taker_volume", "perp"),
    }
    return frames, view


def heatmap_bars(frames: dict[str, pl.DataFrame], every: str | None) -> pl.DataFrame:
    """:func:`perpscope.heatmap.model_inputs` of :func:`heatmap_frames`' output at ``every`` (default:
    the finest stored bar).

    Raises
    ------
    StoreInputError
        When there are no candles.
    """
    if frames["candles"].is_empty():
        raise StoreInputError(
            "no candles in the store for this symbol and period; import some (perpscope import PATH)"
        )
    opt = {k: (v if v.height else None) for k, v in frames.items() if k != "candles"}
    return model_inputs(
        frames["candles"],
        opt["open_interest"],
        opt["funding"],
        opt["long_short_ratios"],
        opt["taker_volume"],
        every_ms=interval_ms(every) if every else None,
    )


def has_open_interest(bars: pl.DataFrame) -> bool:
    """True when any model-input bar carries open interest (USD or base)."""
    return any(bool(bars.get_column(c).is_not_null().any()) for c in ("oi_usd", "oi_base"))


def auto_model(bars: pl.DataFrame, name: str = "auto") -> Model:
    """The ``auto`` choice: the oi-change model when the bars carry open interest, else trade-flow (also
    for ``name="trade-flow"``)."""
    return DEFAULT_MODEL if (has_open_interest(bars) and name != "trade-flow") else DEFAULT_TRADE_FLOW_MODEL


def pick_model(name: str, bars: pl.DataFrame) -> Model | list[Model]:
    """The model (or ensemble members) named ``name`` (one of :data:`MODELS`) for these bars.

    Raises
    ------
    StoreInputError
        For an unknown name, or ``oi-change`` without open interest.
    """
    if name not in MODELS:
        raise StoreInputError(f"--model must be one of {', '.join(MODELS)}; got {name!r}")
    base = auto_model(bars, name)
    if name == "oi-change" and not has_open_interest(bars):
        raise StoreInputError(
            "the oi-change model needs open interest: none in the store for this symbol and period"
        )
    if name == "ensemble":
        return ensemble_members(base, bars=bars)
    return base


#: Measures a heatmap reads (:attr:`perpscope.assemble.view.Part.measure` names), for its footnotes.
HEATMAP_MEASURES = ("price", "perp_taker", "open_interest", "funding", "long_short_ratios")


@dataclass(frozen=True)
class HeatmapView:
    """A heatmap run over a symbol's stored bars: the bars, the run, its hot zones and a model label."""

    venue: str
    symbol: str
    bars: pl.DataFrame
    source: HeatmapRun | EnsembleRun
    zones: pl.DataFrame
    label: str
    #: where the inputs came from (:func:`perpscope.assemble.view.source_lines`)
    sources: tuple[str, ...] = ()

    @property
    def last_ms(self) -> int:
        """Open of the last bar the map includes, ms UTC."""
        return int(self.bars.get_column("ts_ms").dt.epoch("ms").max())  # type: ignore[arg-type]


def heatmap_of(
    lk: Lake,
    venue: str,
    symbol: str,
    start: int | None = None,
    end: int | None = None,
    *,
    model: str = "auto",
    every: str | None = None,
    oi_venue: str | None = None,
    oi_symbol: str | None = None,
    zones: int = 5,
    width: float = 0.5,
    closed_by: int | None = None,
) -> HeatmapView:
    """Run the chosen model over ``[start, end)`` (ms; default: the 30 days before the last candle).

    ``zones`` hot zones per side, each ``width`` % of price wide. ``closed_by`` (ms): keep only the bars
    closed by that instant (open + length ≤ it) — the map *at* an instant, with no look-ahead.

    Raises
    ------
    StoreInputError
        When the store lacks the candles (or open interest for ``oi-change``), or ``model`` is unknown.
    """
    end = end if end is not None else last_candle_end(lk, venue, symbol)
    start = start if start is not None else end - DEFAULT_SPAN_MS
    frames, view = heatmap_inputs(
        lk, venue, symbol, start, end, oi_venue, oi_symbol, interval_ms(every) if every else None
    )
    bars = heatmap_bars(frames, every)
    if closed_by is not None:
        bars = bars.filter(pl.col("ts_ms").dt.epoch("ms") + pl.col("interval_ms") <= closed_by)
        if bars.is_empty():
            raise StoreInputError(
                f"no bar closed by {date_text(closed_by)} UTC in the range read: the map at an instant "
                "uses closed bars only; ask for a later --at or an earlier --from"
            )
    chosen = pick_model(model, bars)
    source: HeatmapRun | EnsembleRun = (
        run_ensemble(chosen, bars) if isinstance(chosen, list) else run_model(chosen, bars)
    )
    z = hot_zones(source, k=zones, width_pct=width)
    label = f"ensemble of {len(chosen)}" if isinstance(chosen, list) else describe(chosen)
    sources = source_lines(view, HEATMAP_MEASURES)
    if oi_venue or oi_symbol:
        sources.append(
            f"open interest: the stored series {oi_venue or venue} {oi_symbol or symbol} "
            "(--oi-venue/--oi-symbol)"
        )
    return HeatmapView(venue, symbol, bars, source, z, label, tuple(sources))


def realized_liquidations(
    lk: Lake, venue: str, symbol: str, start: int, end: int, every_ms: int
) -> tuple[pl.DataFrame, MarketView]:
    """Realized liquidations of ``symbol`` within the venue scope ``venue`` per ``every_ms`` bar over
    ``[start, end)`` (ms), resolved as the metrics panel's are (:func:`perpscope.assemble.view.resolve`:
    totals and events of the pair and the coin's aggregate, summed over the series covering the scope),
    as ``liquidation_totals`` rows (``ts_ms`` = bar open, ``long_usd``, ``short_usd``; bars no stored
    series covers have no row), and the view they came from. ``symbol`` may name a coin's aggregate
    (``BTC-AGG-PERP``): that is the coin's view, which reads the aggregate where the pair has nothing.

    Raises
    ------
    StoreInputError
        When no stored liquidation series covers the scope in the range.
    """
    if symbol.upper().endswith("-AGG-PERP"):
        symbol = symbol.split("-", 1)[0]
    view = resolve(lk, symbol, Scope.parse(venue), start, end, every_ms)
    tot = view.frames.get("liquidation_totals")
    if tot is None or tot.is_empty():
        raise StoreInputError(
            f"no liquidations of {view.canonical} (or {view.coin}'s aggregate) for venue scope "
            f"{view.scope.label} between the dates asked: calibration scores a map against realized "
            "liquidations. Import some (liquidation exports or archives: perpscope import PATH), or pass "
            "--liq-venue with a scope that has them (e.g. all)"
        )
    return tot, view
