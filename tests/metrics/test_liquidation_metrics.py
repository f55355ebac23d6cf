"""Liquidations: windows and long share, bursts, the largest flush, venue sampling notes; on hand-made
bars and on real CoinGlass totals and recorded Binance force orders."""

from __future__ import annotations

import csv
import gzip
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from perpscope.core.time import DAY_MS, HOUR_MS
from perpscope.metrics.bars import liquidation_bars
from perpscope.metrics.liquidations import (
    LIQUIDATION_SAMPLING,
    SamplingRule,
    largest_flush,
    liquidation_bursts,
    liquidation_windows,
    with_sampling,
)
from perpscope.records import LIQUIDATION_TOTALS

T0 = 1_760_054_400_000  # 2025-10-10 00:00 UTC
H4 = 4 * HOUR_MS
COINGLASS_4H = "coinglass_liquidity_report/liquidations_binance_4h_BTC_ETH_SOL_XRP.csv.gz"


def totals(longs: list[float], shorts: list[float], venue: str = "binance") -> pl.DataFrame:
    return LIQUIDATION_TOTALS.conform(
        pl.DataFrame(
            {
                "venue": venue,
                "symbol": "BTC",
                "canonical": "BTC-USDT-PERP",
                "interval_ms": H4,
                "ts_ms": [T0 + i * H4 for i in range(len(longs))],
                "long_usd": longs,
                "short_usd": shorts,
            }
        )
    )


def test_a_day_of_4h_bars_by_hand() -> None:
    bars = liquidation_bars(H4, totals=totals([1, 2, 3, 4, 5, 6, 7], [6, 5, 4, 3, 2, 1, 0]))
    out = liquidation_windows(bars, DAY_MS)
    assert out["liq_long_usd_1d"][5] == 21 and out["liq_short_usd_1d"][5] == 21
    assert out["liq_long_share_1d"][5] == 0.5
    assert out["liq_long_usd_1d"][6] == 2 + 3 + 4 + 5 + 6 + 7  # the window slid past the first bar


def test_the_largest_flush_of_each_day() -> None:
    bars = liquidation_bars(H4, totals=totals([1, 50, 3, 4, 5, 6, 9], [6, 5, 40, 3, 2, 1, 0]))
    out = largest_flush(bars, DAY_MS)
    first = out.row(0, named=True)
    assert first["flush_ts_ms"].timestamp() * 1000 == T0 + H4
    assert first["flush_usd"] == 55 and first["flush_side"] == "long"
    assert first["liq_usd"] == 69 + 57 and first["flush_share"] == pytest.approx(55 / 126)
    assert out.row(1, named=True)["flush_usd"] == 9


def test_a_burst_stands_out_against_quiet_bars_and_quiet_bars_count() -> None:
    longs = [1000.0 * (1 + (i % 3)) for i in range(60)] + [5e6]
    bars = liquidation_bars(H4, totals=totals(longs, [0.0] * 61))
    holes = bars.filter(pl.int_range(pl.len()) % 7 != 3)  # bars without liquidations are simply absent
    out = liquidation_bursts(holes)
    assert out.height == 61  # the missing bars are back, as zero
    assert out["burst"].to_list() == [False] * 60 + [True]
    assert out["liq_usd"].to_list()[3] == 0.0


def test_sampling_notes_by_venue_and_in_force_by_date() -> None:
    bars = pl.DataFrame(
        {
            "venue": ["binance", "Bybit", "okx", "hyperliquid", "kraken"],
            "ts_ms": pl.Series([T0] * 5).cast(pl.Datetime("ms", "UTC")),
        }
    )
    out = with_sampling(bars)
    assert out["liq_complete"].to_list() == [False, True, False, True, None]
    assert "lower bound" in out["liq_sampling"][0]
    assert {r.venue for r in LIQUIDATION_SAMPLING} == {"binance", "bybit", "okx", "hyperliquid"}
    # a rule that changes inside the frame is applied row by row
    rules = (
        SamplingRule("bybit", 0, False, "one per second", "old topic"),
        SamplingRule("bybit", T0 + 1, True, "all", "allLiquidation"),
    )
    two = pl.DataFrame(
        {"venue": "bybit", "ts_ms": pl.Series([T0, T0 + DAY_MS]).cast(pl.Datetime("ms", "UTC"))}
    )
    assert with_sampling(two, rules)["liq_complete"].to_list() == [False, True]
    # the venues named by the caller (the panel knows them): the same columns; one venue's are constant
    for frame, venues in ((bars, bars["venue"].to_list()), (two.slice(0, 1), ["bybit"]), (two, ["bybit"])):
        assert_frame_equal(with_sampling(frame, rules, venues=venues), with_sampling(frame, rules))
    kraken = bars.filter(pl.col("venue") == "kraken")
    assert_frame_equal(with_sampling(kraken, venues=["kraken"]), with_sampling(kraken))


# -- real data -----------------------------------------------------------------------------------------------


@pytest.mark.shared
def test_coinglass_binance_btc_liquidations_on_10_october(shared_data: Path, load) -> None:  # type: ignore[no-untyped-def]
    t = load(COINGLASS_4H, "liquidation_totals")
    bars = liquidation_bars(H4, totals=t)
    btc = bars.filter(pl.col("canonical") == "BTC-AGG-PERP")
    row = btc.filter(pl.col("ts_ms") == pl.datetime(2025, 10, 10, 20, time_zone="UTC")).row(0, named=True)
    # CSV: 1760126400000,2025-10-10 20:00:00,BTC,235601013.09389,107461506.04199
    assert row["liq_long_usd"] == pytest.approx(235_601_013.09389)
    assert row["liq_short_usd"] == pytest.approx(107_461_506.04199)
    day = liquidation_windows(btc, DAY_MS).filter(
        pl.col("ts_ms") == pl.datetime(2025, 10, 10, 20, time_zone="UTC")
    )
    with gzip.open(shared_data / COINGLASS_4H, "rt") as fh:
        raw = [r for r in csv.DictReader(fh) if r["coin"] == "BTC"]
    on_day = [r for r in raw if r["time_utc"].startswith("2025-10-10")]
    assert len(on_day) == 6
    longs, shorts = (
        sum(float(r["long_liq_usd"]) for r in on_day),
        sum(float(r["short_liq_usd"]) for r in on_day),
    )
    assert day["liq_long_usd_1d"][0] == pytest.approx(longs)
    assert day["liq_long_share_1d"][0] == pytest.approx(longs / (longs + shorts))
    # the largest 4h bar of the whole file is that one, and it is a burst against the month before it
    biggest = max(raw, key=lambda r: float(r["long_liq_usd"]) + float(r["short_liq_usd"]))
    assert biggest["time_utc"] == "2025-10-10 20:00:00"
    flush = largest_flush(btc, 400 * DAY_MS)  # windows of 400 days: at most two cover the year
    assert flush.sort("flush_usd")["flush_ts_ms"][-1] == datetime(2025, 10, 10, 20, tzinfo=UTC)
    bursts = liquidation_bursts(btc)
    hit = bursts.filter(pl.col("ts_ms") == pl.datetime(2025, 10, 10, 20, time_zone="UTC"))
    assert hit["burst"].to_list() == [True]
    assert bursts["burst"].mean() < 0.01  # type: ignore[operator]  # bursts are rare: under 1% of bars


@pytest.mark.shared
def test_recorded_binance_force_orders_sum_to_the_file_and_are_lower_bounds(shared_data: Path, load) -> None:  # type: ignore[no-untyped-def]
    rel = "binance_force_orders/riftfern_binance_forceorders_2025-12-27_2025-12-28.csv.gz"
    ev = load(rel, "liquidations")
    bars = with_sampling(liquidation_bars(HOUR_MS, ev))
    with gzip.open(shared_data / rel, "rt") as fh:
        raw = [r for r in csv.DictReader(fh) if r["symbol"] == "BTC"]
    # SELL orders close longs; notional = filled quantity × average fill price
    sells = sum(float(r["filled_accum_qty"]) * float(r["avg_price"]) for r in raw if r["side"] == "SELL")
    buys = sum(float(r["filled_accum_qty"]) * float(r["avg_price"]) for r in raw if r["side"] == "BUY")
    btc = bars.filter(pl.col("canonical") == "BTC-USDT-PERP")
    assert btc["liq_long_usd"].sum() == pytest.approx(sells)
    assert btc["liq_short_usd"].sum() == pytest.approx(buys)
    assert btc["liq_count"].sum() == len(raw)
    assert not btc["liq_complete"].any() and "lower bound" in btc["liq_sampling"][0]
