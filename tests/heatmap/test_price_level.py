"""Price-level scores: the scorer's arithmetic on a book built by hand, and the harness on the store of
``../shared/data`` (Binance forceOrder recordings beside the klines), where tests assert the data's facts
and the harness's bookkeeping, never a model's score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from perpscope.assemble.heatmap_score import (
    FIT_LEVERAGES,
    WINDOW_MS,
    fit_leverage_mix,
    fit_then_test,
    liquidation_orders,
    price_level_scores,
)
from perpscope.cli.main import app
from perpscope.heatmap.models import PriceGrid
from perpscope.heatmap.price_level import FIT_TEST_SPLIT_MS, Book, score_window, summarize
from perpscope.store import Lake

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "BNBUSDT"]


def _book() -> Book:
    # price 100; bins of 0.05 from 90 to 110; longs: 1,000 USD at 98.0–98.05, 10 at 99.0–99.05
    grid = PriceGrid(90.0, 0.05, 400)
    longs, shorts = np.zeros(400), np.zeros(400)
    longs[160] = 1_000.0
    longs[180] = 10.0
    return Book(grid, 100.0, longs, shorts)


def test_orders_in_the_hottest_zone_are_all_captured() -> None:
    orders = pl.DataFrame(
        {"side": ["long"] * 3, "price": [98.02, 98.03, 98.01], "notional_usd": [5.0, 3.0, 2.0]}
    )
    high, low = np.array([100.2, 99.0]), np.array([99.1, 97.9])
    (s,) = score_window(
        _book(), high, low, orders, symbol="X", start_ms=0, end_ms=1, model="m",
        band_pct=0.5, k=1, width_pct=0.1, rng=np.random.default_rng(0),
    )  # fmt: skip
    assert s.side == "long" and s.n_orders == 3 and s.realized_usd == pytest.approx(10.0)
    assert s.zone_share == pytest.approx(1.0)  # the top zone is 98.0–98.1
    assert s.control_share < 1.0
    assert s.move_pct == pytest.approx(-2.1)
    # bands of 0.5% below 100: the fall reached 97.9 → 5 bands; all USD in band 3 (98.0–98.5)
    assert s.bands_reached == 5 and s.realized_bands[3] == pytest.approx(10.0)
    assert s.model_bands[3] == pytest.approx(1_000.0) and s.model_bands[1] == pytest.approx(10.0)
    # the last quarter of the fall 100 → 97.9 is 97.9–98.425: every order printed in it
    assert s.realized_in_last_quarter == 1.0 and s.realized_beyond_open == 0.0


def test_orders_above_the_open_count_but_have_no_band() -> None:
    orders = pl.DataFrame({"side": ["long", "long"], "price": [100.5, 98.02], "notional_usd": [30.0, 10.0]})
    (s,) = score_window(
        _book(), np.array([100.6]), np.array([97.9]), orders, symbol="X", start_ms=0, end_ms=1, model="m",
        band_pct=0.5, k=1, width_pct=0.1, rng=np.random.default_rng(0),
    )  # fmt: skip
    assert s.realized_usd == pytest.approx(40.0) and s.realized_beyond_open == pytest.approx(0.75)
    assert sum(s.realized_bands) == pytest.approx(10.0) and s.zone_share == pytest.approx(0.25)


@pytest.fixture(scope="module")
def scores(shared_store: Path) -> dict:
    return price_level_scores(Lake(shared_store), SYMBOLS)


def test_every_recorded_order_with_bars_is_scored_once(shared_store: Path, scores: dict) -> None:
    lk = Lake(shared_store)
    (auto,) = scores.values()
    for sym in SYMBOLS:
        orders = liquidation_orders(lk, "binance", sym)
        mine = [s for s in auto if s.symbol == sym]
        assert sum(s.n_orders for s in mine) == orders.height, sym  # 4h klines cover every session
        assert sum(s.realized_usd for s in mine) == pytest.approx(orders["notional_usd"].sum()), sym
    for s in auto:
        assert s.end_ms - s.start_ms == WINDOW_MS and s.start_ms % WINDOW_MS == 0
        for share in (s.zone_share, s.control_share, s.baseline_share, s.realized_in_last_quarter):
            assert np.isnan(share) or 0.0 <= share <= 1.0 + 1e-9
        # SOURCES.md §5: recorded prices lie inside that hour's klines (±0.1%); here the 4h window's
        assert s.move_pct <= 0.1 if s.side == "long" else s.move_pct >= -0.1


def test_the_data_splits_into_fit_and_test_days(scores: dict) -> None:
    (auto,) = scores.values()
    fit = [s for s in auto if s.start_ms < FIT_TEST_SPLIT_MS]
    test = [s for s in auto if s.start_ms >= FIT_TEST_SPLIT_MS]
    # the recordings: 2024-06-20, 2024-08-17/18, 2025-01-26 → 02-06, 2025-06-23, 2025-12-27/28
    assert {d for s in fit for d in [s.start_ms // 86_400_000]} and len(test) > 0
    assert summarize(auto, "fit").n_orders + summarize(auto, "test").n_orders == sum(s.n_orders for s in auto)
    ft = fit_then_test(scores)
    assert ft.chosen == "auto" and ft.test.phase == "test"


def test_fitted_mix_is_a_mix_of_the_offered_leverages(shared_store: Path) -> None:
    mix = fit_leverage_mix(Lake(shared_store), SYMBOLS)
    levs, w = mix.normalized()
    assert set(levs) <= set(FIT_LEVERAGES) and (w > 0).all() and w.sum() == pytest.approx(1.0)


def test_score_command_prints_the_data_then_the_scores(shared_store: Path) -> None:
    res = CliRunner().invoke(
        app, ["--data-dir", str(shared_store), "heatmap", "score"], env={"COLUMNS": "80"}
    )
    assert res.exit_code == 0, res.output
    out = res.output
    assert out.index("recorded liquidation orders") < out.index("fit windows: every variant")
    assert "distance-matched" in out and "bar-range" in out and "fit, then test once" in out
    assert "fitted mix" in out
    assert max(len(line) for line in out.splitlines()) <= 80
