"""The regime reading of one perp, venue scope and bar length over a range: one place for every front end.

``perpscope regimes``, the dashboard's regime band (``/api/v1/dashboard``, ``/api/v1/regimes``), the home
screener, the demo and the cluster's ``regimes`` batch all read regimes through :func:`regime_reading`
(or :func:`read_regimes` on a panel they already built), so the same bars get the same labels everywhere:

- **warm-up**: the panel holds :data:`REGIME_WARM_MS` of bars before the range (the engine's longest
  horizon plus its liquidation-burst baseline), so the range's first day is labelled from real history,
  not ``insufficient_data``; labels, episodes and cycles are listed from the range's start on, the
  current reading and the circuit breakers see the whole panel.
- **flows**: the spot and institutional side (ETF flows, stablecoin supply, perp/spot volume, CME;
  :func:`perpscope.assemble.flows.panel_flow_inputs`) reaches the reading and the spot-led breaker.

A reading is of its range: the panel's columns follow the records the range holds (a range without
funding has no funding columns), so a reading of a longer history cut to a range is not the range's
reading (measured on the shared store: BTC at 4h, Aug 2024 and Mar 2026 read other labels) and none is
made that way; :meth:`RegimeReading.until` only ends a reading earlier (the demo's crash chapter).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import polars as pl

from perpscope.assemble.flows import panel_flow_inputs
from perpscope.assemble.panel import MarketPanel, market_panel
from perpscope.assemble.provenance import measure_provenance
from perpscope.assemble.scope import Scope
from perpscope.regimes import RegimeConfig, circuit_breakers, classify, episodes, reading, treadmill
from perpscope.regimes.flow import FlowInputs
from perpscope.store import Lake

__all__ = ["REGIME_WARM_MS", "RegimeReading", "read_regimes", "regime_reading"]

#: History read before a range for the regime engine's look-back windows, ms: its longest horizon plus
#: the liquidation-burst baseline (3 + 30 days by default; benchmarks/regime_events.py reads the same).
REGIME_WARM_MS = RegimeConfig().long_window_ms + RegimeConfig().burst_baseline_ms


def _ms(col: str = "ts_ms") -> pl.Expr:
    return pl.col(col).dt.epoch("ms")


@dataclass(frozen=True)
class RegimeReading:
    """Regimes of one series over ``[start_ms, end_ms)``, read with warm-up and flows.

    Attributes
    ----------
    market : MarketPanel
        The market panel, from :data:`REGIME_WARM_MS` before ``start_ms`` (``market.start_ms`` is the
        range's start) with its provenance over the range.
    labels : polars.DataFrame
        :func:`perpscope.regimes.classify` of every priced bar of ``market`` (warm-up bars included),
        with evidence.
    flows : FlowInputs or None
        What the reading and the spot-led breaker read of the spot side; None when not asked for.
    """

    market: MarketPanel
    labels: pl.DataFrame
    flows: FlowInputs | None

    @property
    def start_ms(self) -> int:
        """The range's first instant, ms UTC (bars before it are warm-up)."""
        return int(self.market.start_ms if self.market.start_ms is not None else self.market.view.start_ms)

    @property
    def end_ms(self) -> int:
        """The range's end (exclusive), ms UTC."""
        return int(self.market.view.end_ms)

    @property
    def every_ms(self) -> int:
        return int(self.market.view.every_ms)

    @property
    def panel(self) -> pl.DataFrame:
        """The priced bars the labels were read from, warm-up included."""
        return self.market.priced

    def bars(self) -> pl.DataFrame:
        """The labels of the range's bars (warm-up dropped), with evidence."""
        return self.labels.filter(_ms() >= self.start_ms)

    def episodes(self) -> pl.DataFrame:
        """:func:`perpscope.regimes.episodes` of the range's bars (one opened in the warm-up starts at the
        range's start)."""
        return episodes(self.bars())

    def treadmill(self) -> pl.DataFrame:
        """Treadmill cycles of the range's bars."""
        return treadmill(self.bars())

    def breakers(self) -> pl.DataFrame:
        """Circuit breakers at the last bar (the whole panel: the sustained-deleveraging anchor and the
        flow windows look back)."""
        return circuit_breakers(self.panel, labels=self.labels, flows=self.flows)

    def now(self) -> pl.DataFrame:
        """:func:`perpscope.regimes.reading` of the last bar (with ``flow_evidence`` when flows were read)."""
        return reading(self.panel, flows=self.flows, labels=self.labels)

    def until(self, end_ms: int) -> RegimeReading:
        """This reading as it stood at ``end_ms`` (exclusive, ms UTC): the bars before it, the reading and
        the breakers of its last one (labels look back only, so a bar's label does not change)."""
        mp = self.market
        cut = mp.panel.filter(_ms() < end_ms)
        view = replace(mp.view, end_ms=end_ms)
        market = MarketPanel(cut, view, measure_provenance(cut, view, self.start_ms, end_ms), self.start_ms)
        return RegimeReading(market, self.labels.filter(_ms() < end_ms), self.flows)


def read_regimes(lk: Lake, mp: MarketPanel, scope: Scope | str, *, flows: bool = True) -> RegimeReading:
    """The :class:`RegimeReading` of a market panel already built (with ``warm_ms=REGIME_WARM_MS`` for the
    range's first day to read real history); ``flows``: read the coin's flow inputs from the store."""
    panel = mp.priced  # a bar without a price has no regime (not "neutral")
    label = scope.label if isinstance(scope, Scope) else scope
    inputs = panel_flow_inputs(lk, panel, label) if flows else None
    return RegimeReading(mp, classify(panel), inputs)


def regime_reading(
    lk: Lake,
    scope: Scope | str,
    symbol: str,
    start_ms: int | None,
    end_ms: int | None,
    every_ms: int,
    *,
    flows: bool = True,
) -> RegimeReading:
    """Regimes of ``symbol`` within ``scope`` over ``[start_ms, end_ms)`` at ``every_ms`` bars, read from
    :data:`REGIME_WARM_MS` before the start and with the coin's flows (``flows=False``: without them).
    Defaults of the range: :func:`~perpscope.assemble.panel.market_panel`'s (the 30 days before the last
    stored candle).

    Raises
    ------
    StoreInputError
        When the scope holds no candles of the symbol, or the range is empty.
    """
    mp = market_panel(lk, scope, symbol, start_ms, end_ms, every_ms, warm_ms=REGIME_WARM_MS)
    return read_regimes(lk, mp, scope, flows=flows)
