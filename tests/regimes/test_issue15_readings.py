"""Issue 15's findings, each checked on the store a user has (../shared/data imported the README way,
``tests/conftest.py: shared_store``) after stating the data's own numbers, and on hand-built panels where
a definition decides: dating, both OI measures, robust bursts, the breaker's anchor, partial bars, a bar
that reads the same under a later ``--to``, insufficient data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.regimes.conftest import PanelMaker

from perpscope.assemble.panel import market_panel
from perpscope.core.time import DAY_MS, HOUR_MS, parse_time_ms
from perpscope.regimes import RegimeConfig, circuit_breakers, classify
from perpscope.store import Lake

H4 = 4 * HOUR_MS
TS = pl.Datetime("ms", "UTC")


def _row(df: pl.DataFrame, when: str) -> dict[str, object]:
    return df.filter(pl.col("ts_ms") == pl.lit(parse_time_ms(when)).cast(TS)).row(0, named=True)


@pytest.fixture(scope="module")
def btc_oct(shared_store: Path) -> pl.DataFrame:
    """BTC at 4h, --venue all, 3 Sep → 14 Oct 2025 (a month before the crash for the burst baseline)."""
    lk = Lake(shared_store)
    return market_panel(
        lk, "all", "BTCUSDT", parse_time_ms("2025-09-08"), parse_time_ms("2025-10-14"), H4
    ).priced


@pytest.mark.shared
def test_the_day_after_the_crash_is_not_the_flush(btc_oct: pl.DataFrame) -> None:
    # the data: the 10 Oct 20:00 bar liquidated 235.6 M long + 107.5 M short; each of the six bars of
    # 11 Oct liquidated under 10 M, a thirtieth of it
    crash = _row(btc_oct, "2025-10-10T20:00")
    assert crash["liq_long_usd"] == pytest.approx(235.6e6, rel=1e-3)
    day = btc_oct.filter(pl.col("ts_ms").dt.date() == pl.date(2025, 10, 11))
    assert day.height == 6
    assert (day["liq_long_usd"] + day["liq_short_usd"]).max() < 343e6 / 20  # type: ignore[operator]
    lab = classify(btc_oct)
    assert _row(lab, "2025-10-10T20:00")["regime"] == "deleveraging_flush"
    after = lab.filter(pl.col("ts_ms").dt.date() == pl.date(2025, 10, 11))
    # the trailing day still holds the crash until 16:00 (is_deleveraging_flush), but the label is dated
    assert after["is_deleveraging_flush"].sum() >= 3
    assert (after["regime"] == "deleveraging_flush").sum() <= 1


@pytest.mark.shared
def test_the_crash_bar_is_a_burst_and_names_both_oi_measures(btc_oct: pl.DataFrame) -> None:
    bar = _row(classify(btc_oct), "2025-10-10T20:00")
    assert bar["liq_burst_w"] is True and bar["liq_burst_ratio"] >= RegimeConfig().burst_ratio
    ev = str(bar["evidence"])
    assert ev.startswith("over 1d: ") and " in coins, " in ev and " in USD" in ev and "burst" in ev


@pytest.mark.shared
def test_a_bar_reads_the_same_under_a_later_to(shared_store: Path) -> None:
    lk = Lake(shared_store)
    start, end = parse_time_ms("2025-10-06"), parse_time_ms("2025-10-11")
    short = market_panel(lk, "all", "BTCUSDT", start, end, H4).priced
    long = market_panel(lk, "all", "BTCUSDT", start, end + 2 * DAY_MS, H4).priced
    last = short["ts_ms"].max()
    a = short.filter(pl.col("ts_ms") == last).select("oi_usd", "close")
    b = long.filter(pl.col("ts_ms") == last).select("oi_usd", "close")
    # the data: OI fell from 85.8 B to 70.5 B USD by the end of the 20:00 bar (the snapshot at 11 Oct 00:00)
    assert a["oi_usd"][0] == pytest.approx(70.5e9, rel=2e-3)
    assert a.equals(b)
    la = classify(short).filter(pl.col("ts_ms") == last)
    lb = classify(long).filter(pl.col("ts_ms") == last)
    assert la["regime"][0] == lb["regime"][0] == "deleveraging_flush"


@pytest.mark.shared
def test_the_largest_liquidation_week_is_a_burst(shared_store: Path) -> None:
    # the data: 2 Jun 2026 12:00 and 4 Jun 00:00 4h bars liquidated 170 M and 186 M USD (long + short)
    lk = Lake(shared_store)
    p = market_panel(
        lk, "all", "BTCUSDT", parse_time_ms("2026-05-01"), parse_time_ms("2026-06-06"), H4
    ).priced
    for when, usd in (("2026-06-02T12:00", 170e6), ("2026-06-04T00:00", 186e6)):
        r = _row(p, when)
        assert float(r["liq_long_usd"]) + float(r["liq_short_usd"]) == pytest.approx(usd, rel=0.01)
    lab = classify(p)
    week = lab.filter(pl.col("ts_ms").dt.date().is_between(pl.date(2026, 6, 1), pl.date(2026, 6, 5)))
    assert week["liq_burst_w"].any()


def test_liquidation_led_flush_when_coins_hold(panel_of: PanelMaker) -> None:
    # a month of quiet bars, then one bar: price −8%, OI in coins −1% (held), in USD −9%, 300 M of longs
    # liquidated against 1 M a bar before: new shorts took the liquidated longs' side
    n = 200
    close = np.r_[np.full(n - 1, 100.0), 92.0]
    oi = np.r_[np.full(n - 1, 1000.0), 990.0]
    ll = np.r_[np.full(n - 1, 1e6), 300e6]
    lab = classify(panel_of(close, oi=oi, funding=1e-4, liq_long=ll, liq_short=1e5))
    last = lab.row(-1, named=True)
    assert last["oi_chg"] == pytest.approx(-0.01) and last["oi_usd_chg"] == pytest.approx(0.99 * 0.92 - 1)
    assert last["regime"] == "deleveraging_flush" and last["liquidation_led"] is True
    assert "liquidation-led: OI in coins held while OI in USD fell" in last["evidence"]
    # without the burst (the same bar with 1 M liquidated) the coins rule stands: fragility, not a flush
    quiet = classify(panel_of(close, oi=oi, funding=1e-4, liq_long=1e6, liq_short=1e5)).row(-1, named=True)
    assert quiet["regime"] == "latent_fragility" and quiet["liquidation_led"] is False


def test_breaker_anchors_on_the_largest_flush(panel_of: PanelMaker) -> None:
    # a large flush (OI −15%, 500 M long liquidations), then four days later a small one (OI −3% on the
    # bar, 20 M), then quiet: measured from the large flush the deleveraging is sustained
    n0 = 190
    close = np.r_[np.full(n0, 100.0), 90.0, np.full(23, 92.0), 89.0, np.full(40, 90.0)]
    oi = np.r_[np.full(n0, 1000.0), 850.0, np.full(23, 880.0), 850.0, np.full(40, 850.0)]
    ll = np.r_[np.full(n0, 1e6), 500e6, np.full(23, 1e6), 20e6, np.full(40, 1e6)]
    p = panel_of(close, oi=oi, funding=1e-4, liq_long=ll, liq_short=1e5)
    lab = classify(p)
    flush_bars = lab.with_row_index("i").filter(pl.col("regime") == "deleveraging_flush")["i"].to_list()
    assert n0 in flush_bars and n0 + 24 in flush_bars  # both flushes are read
    row = circuit_breakers(p).filter(pl.col("check") == "sustained_deleveraging").row(0, named=True)
    assert (
        "since the largest flush of the episode, " + lab["ts_ms"][n0].strftime("%Y-%m-%d %H:%M")
        in row["evidence"]
    )
    assert row["engaged"] is True


def test_partial_bar_is_marked(panel_of: PanelMaker) -> None:
    p = panel_of(np.linspace(100, 103, 12), oi=np.linspace(1000, 1050, 12), funding=1e-4)
    p = p.with_columns((pl.int_range(pl.len()) < 11).alias("complete"))
    lab = classify(p)
    assert lab["partial"].to_list() == [False] * 11 + [True]
    assert lab["evidence"][-1].endswith("bar not complete (partial)")


def test_missing_funding_is_insufficient_data_not_neutral(panel_of: PanelMaker) -> None:
    # price and OI flat for two days, no funding at all: nothing can be read as "neutral"
    lab = classify(panel_of(np.full(12, 100.0), oi=np.full(12, 1000.0)))
    assert (lab["regime"] == "insufficient_data").all()
    assert lab["missing"][-1] == "funding"
    with_funding = classify(panel_of(np.full(12, 100.0), oi=np.full(12, 1000.0), funding=1e-4))
    assert with_funding["regime"][-1] == "neutral"
