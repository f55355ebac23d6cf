"""Calibration harness: statistics against oracles, a world where the model is right, and real data."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from tests.heatmap.conftest import parse

from perpscope.heatmap import (
    DEFAULT_MODEL,
    OIChangeModel,
    calibrate,
    ensemble_members,
    model_inputs,
    run_model,
    score_model,
    wilson,
    with_half_lives,
)
from perpscope.heatmap.calibration import CalibrationWindowError


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_wilson_interval_oracle() -> None:
    # Wilson (1927) score interval, 95%: 8 of 10 → (0.490, 0.943); 0 of 10 → (0, 0.278)
    lo, hi = wilson(8, 10)
    assert (round(lo, 3), round(hi, 3)) == (0.490, 0.943)
    lo, hi = wilson(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12) and round(hi, 3) == 0.278
    assert all(math.isnan(x) for x in wilson(0, 0))


@pytest.fixture(scope="module")
def sol_bars(sol_1h: dict[str, pl.DataFrame]) -> pl.DataFrame:
    s = sol_1h
    return model_inputs(
        s["candles"], s["open_interest"], s["funding"], s["long_short_ratios"], s["taker_volume"]
    )


def test_a_model_scored_against_its_own_liquidations_beats_controls(sol_bars: pl.DataFrame) -> None:
    # A world where the model is the truth: realized liquidations = what the model itself liquidates.
    model = OIChangeModel()
    run = run_model(model, sol_bars)
    realized = run.predicted_liquidations()
    t = sol_bars["ts_ms"].dt.epoch("ms").to_list()
    fit, test = (t[0], t[300]), (t[300], t[-1] + 1)
    s = score_model(model, sol_bars, realized, fit=fit, score=test, k=5, width_pct=1.0)
    assert s.zone_precision.n > 10
    assert s.zone_precision.rate >= s.control_precision.rate
    assert s.zone_usd_per_crossing > s.control_usd_per_crossing
    assert s.size_ratio == pytest.approx(1.0) and s.size_spearman == pytest.approx(1.0)
    assert s.frame().height == 10
    lo, hi = s.usd_ratio_ci
    assert lo <= s.usd_ratio <= hi


def test_calibrate_fits_before_it_tests(sol_bars: pl.DataFrame) -> None:
    t = sol_bars["ts_ms"].dt.epoch("ms").to_list()
    realized = run_model(DEFAULT_MODEL, sol_bars).predicted_liquidations()
    with pytest.raises(ValueError, match="after the fit window"):
        calibrate([DEFAULT_MODEL], sol_bars, realized, fit=(t[0], t[400]), test=(t[300], t[-1]))
    cands = with_half_lives(
        ensemble_members(OIChangeModel(), bars=sol_bars, side_rules=("taker", "even")), [None]
    )
    cal = calibrate(
        cands, sol_bars, realized, fit=(t[0], t[400]), test=(t[400], t[-1] + 1), burn_in_ms=0, min_crossings=1
    )
    assert cal.chosen in cands and cal.test.window == (t[400], t[-1] + 1)
    assert cal.table().height == len(cands)


def test_calibrate_refuses_windows_without_realized_liquidations(sol_bars: pl.DataFrame) -> None:
    # realized liquidations only in the second half: a fit window in the first half has nothing to fit on
    t = sol_bars["ts_ms"].dt.epoch("ms").to_list()
    realized = run_model(DEFAULT_MODEL, sol_bars).predicted_liquidations()
    realized = realized.filter(pl.col("ts_ms").dt.epoch("ms") >= t[400])
    with pytest.raises(CalibrationWindowError, match=r"fit window .* holds no bar with realized"):
        calibrate(
            [DEFAULT_MODEL], sol_bars, realized, fit=(t[0], t[300]), test=(t[400], t[-1] + 1), burn_in_ms=0
        )
    with pytest.raises(CalibrationWindowError, match=r"scored window .* holds no bar with realized"):
        score_model(DEFAULT_MODEL, sol_bars, realized, fit=(t[400], t[-1] + 1), score=(t[0], t[300]))
    with pytest.raises(CalibrationWindowError, match="burn-in"):
        calibrate([DEFAULT_MODEL], sol_bars, realized, fit=(t[400], t[410]), test=(t[410], t[-1] + 1))


@pytest.mark.shared
@pytest.mark.slow
def test_default_model_on_binance_4h_liquidations(shared_data: Path) -> None:
    """The numbers written in docs/heatmap/oi-change.md: fit May–Aug 2025, test Sep–13 Nov 2025."""
    c = parse(shared_data / "binance_um_klines_leopoldlj/BTCUSDT_perp_4h_20191001_20260210.csv.gz")["candles"]
    oi = parse(shared_data / "coinglass_liquidity_report/open_interest_by_exchange_4h_BTC_ETH_SOL_XRP.csv.gz")
    liq = parse(shared_data / "coinglass_liquidity_report/liquidations_binance_4h_BTC_ETH_SOL_XRP.csv.gz")
    oi_b = oi["open_interest"].filter(
        (pl.col("venue") == "binance") & (pl.col("canonical") == "BTC-AGG-PERP")
    )
    realized = liq["liquidation_totals"].filter(pl.col("canonical") == "BTC-AGG-PERP")
    c = c.filter(
        pl.col("ts_ms").is_between(
            datetime(2025, 5, 16, tzinfo=UTC), datetime(2025, 11, 14, tzinfo=UTC), closed="left"
        )
    )
    bars = model_inputs(c, oi_b)
    s = score_model(
        DEFAULT_MODEL,
        bars,
        realized,
        fit=(ms("2025-05-16"), ms("2025-09-01")),
        score=(ms("2025-09-01"), ms("2025-11-14")),
    )
    assert s.n_bars == 444
    assert s.zone_precision.n >= 50 and s.magnet.n >= 10
    assert 0.0 < s.size_ratio < 1.0  # realized totals are sampled (≤ 1 order/s/symbol): below the model's
