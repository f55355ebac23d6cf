"""Volume structure (perp/spot ratio, taker imbalance, CVD) and positioning (ratio extremes, basis),
by hand, as invariants, and on real CoinGlass and Binance data."""

from __future__ import annotations

import csv
import gzip
import math
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.core.time import DAY_MS, HOUR_MS
from perpscope.metrics.bars import asof_bars, bar_grid
from perpscope.metrics.positioning import basis, ratio_bars, ratio_extremes
from perpscope.metrics.volume import (
    candle_volume,
    perp_spot_ratio,
    rolling_imbalance,
    taker_flow,
    taker_total_volume,
)
from perpscope.records import CANDLES, LONG_SHORT_RATIOS, TAKER_VOLUME

T0 = 1_760_054_400_000  # 2025-10-10 00:00 UTC
H4 = 4 * HOUR_MS
TS = pl.Datetime("ms", "UTC")
CG_4H = "coinglass_liquidity_report/binance_BTCUSDT_4h_price_ls_ratios_orderbook_taker.csv.gz"


def taker(
    buy: list[float], sell: list[float], market: str = "perp", canonical: str = "BTC-USDT-PERP"
) -> pl.DataFrame:
    return TAKER_VOLUME.conform(
        pl.DataFrame(
            {
                "venue": "binance",
                "symbol": "BTCUSDT",
                "canonical": canonical,
                "market": market,
                "interval_ms": H4,
                "ts_ms": [T0 + i * H4 for i in range(len(buy))],
                "buy_usd": buy,
                "sell_usd": sell,
            }
        )
    )


def candles(
    closes: list[float],
    market: str = "perp",
    price_type: str = "trade",
    canonical: str = "BTC-USDT-PERP",
    volume: list[float] | None = None,
) -> pl.DataFrame:
    n = len(closes)
    return CANDLES.conform(
        pl.DataFrame(
            {
                "venue": "binance",
                "symbol": "BTCUSDT",
                "canonical": canonical,
                "market": market,
                "price_type": price_type,
                "interval_ms": H4,
                "ts_ms": [T0 + i * H4 for i in range(n)],
                "open": closes,
                "high": closes,
                "low": closes,
                "close": closes,
                "volume_quote": volume if volume is not None else [None] * n,
            },
            schema_overrides={"volume_quote": pl.Float64},
        )
    )


# -- taker flow ---------------------------------------------------------------------------------------------


def test_taker_flow_by_hand_and_a_daily_reset() -> None:
    t = taker([60.0, 30.0, 50.0, 0.0, 10.0, 10.0, 80.0], [40.0, 70.0, 50.0, 0.0, 30.0, 10.0, 20.0])
    out = taker_flow(t)
    assert out["taker_delta_usd"].to_list() == [20, -40, 0, 0, -20, 0, 60]
    assert out["cvd_usd"].to_list() == [20, -20, -20, -20, -40, -40, 20]
    assert out["taker_imbalance"].to_list() == [0.2, -0.4, 0.0, None, -0.5, 0.0, 0.6]
    daily = taker_flow(t, reset_ms=DAY_MS)
    assert daily["cvd_usd"].to_list() == [20, -20, -20, -20, -40, -40, 60]  # the 7th bar opens the next day
    assert rolling_imbalance(t, 2 * H4)["taker_imbalance_8h"].to_list()[1] == pytest.approx(-20 / 200)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 1e9, allow_nan=False), st.floats(0, 1e9, allow_nan=False)),
        min_size=1,
        max_size=80,
    )
)
def test_the_last_cvd_is_the_sum_of_the_deltas_and_imbalance_is_bounded(
    bars: list[tuple[float, float]],
) -> None:
    t = pl.concat(
        [
            taker([b for b, _ in bars], [s for _, s in bars]),
            taker([s for _, s in bars], [b for b, _ in bars], market="spot", canonical="BTC-USDT-SPOT"),
        ]
    )
    out = taker_flow(t)
    perp, spot = out.filter(pl.col("market") == "perp"), out.filter(pl.col("market") == "spot")
    assert perp["cvd_usd"][-1] == pytest.approx(sum(b - s for b, s in bars), abs=1e-3)
    assert spot["cvd_usd"][-1] == pytest.approx(-perp["cvd_usd"][-1], abs=1e-3)  # perp and spot kept apart
    imb = out["taker_imbalance"].drop_nulls()
    assert imb.is_empty() or (imb.min() >= -1 - 1e-12 and imb.max() <= 1 + 1e-12)  # type: ignore[operator]


# -- perp / spot ------------------------------------------------------------------------------------------


def test_perp_to_spot_ratio_and_share_by_hand() -> None:
    vol = pl.concat(
        [
            candle_volume(candles([1.0, 1.0], volume=[787.0, 400.0]), H4),
            candle_volume(
                candles([1.0, 1.0], market="spot", canonical="BTC-USDT-SPOT", volume=[100.0, 100.0]), H4
            ),
        ]
    )
    out = perp_spot_ratio(vol)
    assert out["perp_spot_ratio"].to_list() == pytest.approx([7.87, 4.0])
    assert out["perp_share"][0] == pytest.approx(7.87 / 8.87)  # 0.887: perps were 88.7% of the volume
    summed = perp_spot_ratio(vol, window_ms=2 * H4)
    assert summed["perp_spot_ratio"][-1] == pytest.approx((787 + 400) / 200)  # a ratio of sums
    assert perp_spot_ratio(vol, across_venues=True).columns[0] == "pair"


# -- basis, ratios ----------------------------------------------------------------------------------------


def test_basis_over_spot_and_index_and_the_premium_index() -> None:
    c = pl.concat(
        [
            candles([101.0, 99.0]),
            candles([100.0, 100.0], market="spot", canonical="BTC-USDT-SPOT"),
            candles([100.5, 99.5], price_type="index"),
            candles([0.0005, -0.001], price_type="premium"),
        ]
    )
    out = basis(c, H4)
    assert out["basis_spot"].to_list() == pytest.approx([0.01, -0.01])
    assert out["basis_index"].to_list() == pytest.approx([101 / 100.5 - 1, 99 / 99.5 - 1])
    assert out["premium"].to_list() == [0.0005, -0.001]


def _ratios(values: list[float], kind: str = "global_accounts") -> pl.DataFrame:
    return LONG_SHORT_RATIOS.conform(
        pl.DataFrame(
            {
                "venue": "binance",
                "symbol": "BTCUSDT",
                "canonical": "BTC-USDT-PERP",
                "kind": kind,
                "interval_ms": H4,
                "ts_ms": [T0 + (i + 1) * H4 for i in range(len(values))],
                "ratio": values,
            }
        )
    )


def test_ratio_extremes_are_symmetric_in_log_space() -> None:
    calm = [1.0 * math.exp(0.01 * ((i * 7) % 5 - 2)) for i in range(40)]
    hi = ratio_extremes(_ratios([*calm, 2.0]), window_ms=30 * DAY_MS)
    lo = ratio_extremes(_ratios([*calm, 0.5]), window_ms=30 * DAY_MS)
    assert hi["ratio_z"][-1] == pytest.approx(-lo["ratio_z"][-1])  # 2:1 and 1:2 equally far from balance
    assert (hi["extreme"][-1], lo["extreme"][-1]) == (1, -1)
    assert hi["ratio_pct"][-1] == 1.0 and lo["ratio_pct"][-1] == 0.0


def test_ratio_bars_attach_each_kind_point_in_time() -> None:
    r = pl.concat([_ratios([1.5, 1.6]), _ratios([0.9, 0.8], kind="top_positions")])
    grid = bar_grid(
        H4,
        pl.DataFrame(
            {
                "venue": ["binance"] * 2,
                "canonical": "BTC-USDT-PERP",
                "ts_ms": pl.Series([T0, T0 + 2 * H4]).cast(TS),
            }
        ),
    )
    out = ratio_bars(grid, r)
    # the ratio stamped at the end of bar 0 (T0 + 4h) is bar 0's; nothing is known before it
    assert out["ls_global_accounts"].to_list() == [1.5, 1.6, 1.6]
    assert out["ls_top_positions"].to_list() == [0.9, 0.8, 0.8]


# -- real data ----------------------------------------------------------------------------------------------


@pytest.mark.shared
def test_binance_btc_perp_to_spot_volume_ratio_from_the_coinglass_4h_file(shared_data: Path, load) -> None:  # type: ignore[no-untyped-def]
    vol = pl.concat(
        [candle_volume(load(CG_4H, "candles"), H4), taker_total_volume(load(CG_4H, "taker_volume"), H4)]
    )
    out = perp_spot_ratio(vol, window_ms=400 * DAY_MS)  # the last bar's window holds the whole file
    with gzip.open(shared_data / CG_4H, "rt") as fh:
        raw = [r for r in csv.DictReader(fh) if r["spot_taker_buy_usd"] and r["perp_volume_usd"]]
    perp = sum(float(r["perp_volume_usd"]) for r in raw)
    spot = sum(float(r["spot_taker_buy_usd"]) + float(r["spot_taker_sell_usd"]) for r in raw)
    assert out.height == len(raw)
    assert out["perp_spot_ratio"][-1] == pytest.approx(perp / spot)  # 7.79: perps traded 7.8× spot
    assert 7 < perp / spot < 9
    one = perp_spot_ratio(vol).filter(pl.col("ts_ms") == pl.datetime(2025, 10, 10, 20, time_zone="UTC"))
    r = next(r for r in raw if r["time_utc"] == "2025-10-10 20:00:00")
    expect = float(r["perp_volume_usd"]) / (float(r["spot_taker_buy_usd"]) + float(r["spot_taker_sell_usd"]))
    assert one["perp_spot_ratio"][0] == pytest.approx(expect)


@pytest.mark.shared
def test_sol_taker_cvd_and_ratio_extremes_on_binance_data(shared_data: Path, load) -> None:  # type: ignore[no-untyped-def]
    rel = "binance_um_sol_jabine9966/SOLUSDT_perp_1h_ohlcv_oi_lsratio_taker.csv.gz"
    flow = taker_flow(load(rel, "taker_volume"))
    with gzip.open(shared_data / rel, "rt") as fh:
        raw = list(csv.DictReader(fh))
    assert flow["cvd_usd"][-1] == pytest.approx(
        sum(float(r["taker_volume_buyVol"]) - float(r["taker_volume_sellVol"]) for r in raw)
    )
    ratios = ratio_extremes(load(rel, "long_short_ratios"), window_ms=7 * DAY_MS)
    assert ratios.height == len(raw)
    top = ratios.sort("ratio_z", descending=True, nulls_last=True).row(0, named=True)
    # the most extreme reading is the window's highest ratio: percentile 1
    assert top["extreme"] == 1 and top["ratio_pct"] == 1.0
    assert ratios["extreme"].abs().mean() < 0.2  # type: ignore[operator]


@pytest.mark.shared
def test_coinglass_long_short_ratios_on_4h_bars(load) -> None:  # type: ignore[no-untyped-def]
    r = load(CG_4H, "long_short_ratios")
    c = load(CG_4H, "candles")
    grid = bar_grid(H4, c)
    out = ratio_bars(grid, r, extra=("long_share",))
    row = out.filter(pl.col("ts_ms") == pl.datetime(2024, 11, 14, 0, time_zone="UTC")).row(0, named=True)
    # CSV row 2024-11-14 00:00: global 45.16% long (ratio 0.82 is its 20:00 predecessor's, known at 00:00)
    src = r.filter(
        (pl.col("kind") == "global_accounts")
        & (pl.col("ts_ms") <= pl.datetime(2024, 11, 14, 4, time_zone="UTC"))
    )
    assert row["ls_global_accounts"] == src.sort("ts_ms")["ratio"][-1]
    assert row["long_share_global_accounts"] == src.sort("ts_ms")["long_share"][-1]
    snap = asof_bars(grid, r.filter(pl.col("kind") == "top_positions"), ["ratio"])
    assert out["ls_top_positions"].to_list() == snap["ratio"].to_list()
