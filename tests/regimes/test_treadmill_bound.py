"""The treadmill cycle's time bound (docs/regimes.md, "The liquidation treadmill"): leverage rebuilt
within ``rebuild_within_ms`` of the flush (on the bounce), the next flush within ``cycle_max_ms``.
Hand-built panels where the bound decides, and the real sequences of the store a user has."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.regimes.conftest import PanelMaker

from perpscope.assemble.panel import market_panel
from perpscope.core.time import DAY_MS, HOUR_MS, parse_time_ms
from perpscope.regimes import RegimeConfig, classify, treadmill
from perpscope.store import Lake

H4 = 4 * HOUR_MS


def _flushes(panel_of: PanelMaker, flushes: int, gap: int, rebuild_at: int) -> pl.DataFrame:
    """``flushes`` long flushes (price −4%, OI −10%, 50 M of long liquidations, funding −0.01%/8h for
    3 bars) ``gap`` 4h bars apart; OI and price come back ``rebuild_at`` bars after each flush starts
    and funding turns to +0.01%/8h with them."""
    close, oi, funding, ll = [], [], [], []
    for _ in range(flushes):
        close += [100.0] * 10 + [96.0] * (rebuild_at - 10) + [100.0] * (gap - rebuild_at)
        oi += [1000.0] * 10 + [900.0] * (rebuild_at - 10) + [1000.0] * (gap - rebuild_at)
        funding += [0.0001] * 10 + [-0.0001] * (rebuild_at - 10) + [0.0001] * (gap - rebuild_at)
        ll += [1e5] * 10 + [5e7] * 3 + [1e5] * (gap - 13)
    n = len(close)
    return panel_of(close, oi=oi, funding=funding, liq_long=ll, liq_short=np.full(n, 1e5), ls=1.8)


def test_cycles_within_the_bound_count(panel_of: PanelMaker) -> None:
    # flushes 20 bars (3.3 days) apart, rebuilt 3 bars after: three cycles, one treadmill
    tm = treadmill(_flushes(panel_of, 4, gap=20, rebuild_at=13))
    assert tm.height == 3 and tm["treadmill"].all()


def test_a_next_flush_beyond_the_bound_is_no_cycle(panel_of: PanelMaker) -> None:
    # the same flushes 90 bars (15 days) apart: each next flush comes after cycle_max_ms (14 days)
    panel = _flushes(panel_of, 4, gap=90, rebuild_at=13)
    assert treadmill(panel).height == 0
    # without the bound the same panel would read three cycles: the bound, not another condition, decides
    assert treadmill(panel, RegimeConfig(cycle_max_ms=30 * DAY_MS)).height == 3


def test_leverage_rebuilt_after_the_bounce_is_no_cycle(panel_of: PanelMaker) -> None:
    # OI comes back only 50 bars (8.3 days) after each flush starts, the next flush 80 bars (13.3 days)
    # after: within cycle_max_ms, but the leverage was not rebuilt on the bounce (rebuild_within_ms, 7
    # days after the flush's end, which lasts while the day still reads the flush: 5 more bars)
    panel = _flushes(panel_of, 4, gap=80, rebuild_at=60)
    assert treadmill(panel).height == 0
    assert treadmill(panel, RegimeConfig(rebuild_within_ms=10 * DAY_MS)).height == 3


def test_a_flush_that_liquidated_more_shorts_is_no_cycle(panel_of: PanelMaker) -> None:
    # three long flushes 20 bars apart: two cycles. Then 200 M of shorts liquidated in the three bars
    # before the second flush (a squeeze the dip ended): its bars still read a flush (price and OI down,
    # its own bars' liquidations long), but the day around it liquidated more shorts than longs, so it is
    # no long flush and no cycle runs through it (docs/regimes.md, "long flushes only")
    panel = _flushes(panel_of, 3, gap=20, rebuild_at=13)
    assert treadmill(panel).height == 2
    short = panel["liq_short_usd"].to_numpy().copy()
    short[27:30] = 2e8
    squeezed = panel.with_columns(pl.Series("liq_short_usd", short))
    labels = classify(squeezed, evidence=False)
    assert (labels["regime"][30:33] == "deleveraging_flush").any()
    assert treadmill(labels).height == 0


@pytest.fixture(scope="module")
def btc_2025(shared_store: Path) -> pl.DataFrame:
    """BTC at 4h, --venue all, May → 14 Nov 2025 (CoinGlass all-exchange OI and Binance liquidations)."""
    lk = Lake(shared_store)
    return market_panel(
        lk, "all", "BTCUSDT", parse_time_ms("2025-05-01"), parse_time_ms("2025-11-14"), H4
    ).priced


def _day(panel: pl.DataFrame, day: str) -> dict[str, float]:
    d = panel.filter(pl.col("ts_ms").dt.date() == pl.lit(day).str.to_date())
    return {"liq_long": float(d["liq_long_usd"].sum()), "liq_short": float(d["liq_short_usd"].sum())}


@pytest.mark.shared
def test_the_june_2025_range_is_the_treadmill_and_no_cycle_runs_for_months(btc_2025: pl.DataFrame) -> None:
    # the data first: 12 Jun 2025 liquidated 220.7 M of longs (2.7 M shorts) in a -2.8% day; 21 Jun and
    # 4 Jul liquidated 10.9 M and 11.7 M of longs, three times the shorts, within 98.1–110.5 k
    assert _day(btc_2025, "2025-06-12")["liq_long"] == pytest.approx(220.7e6, rel=1e-3)
    for day in ("2025-06-21", "2025-07-04"):
        assert _day(btc_2025, day)["liq_long"] > 2.5 * _day(btc_2025, day)["liq_short"]
    tm = treadmill(classify(btc_2025, evidence=False))
    cfg = RegimeConfig()
    gaps = (tm["next_flush_start_ms"] - tm["flush_end_ms"]).dt.total_milliseconds()
    assert (gaps <= cfg.cycle_max_ms).all()
    chain = tm.filter(pl.col("treadmill"))
    assert chain["flush_start_ms"].dt.date().to_list() == [
        pl.Series(["2025-06-12", "2025-06-21"]).str.to_date()[i] for i in range(2)
    ]
    assert chain["next_flush_start_ms"].dt.date()[-1] == pl.Series(["2025-07-04"]).str.to_date()[0]
    # before the bound, a cycle ran 4 Jul → 10 Oct 2025 (98 days): the crash is not the close of that chain
    assert tm.filter(pl.col("next_flush_start_ms").dt.date() == pl.lit("2025-10-10").str.to_date()).is_empty()
