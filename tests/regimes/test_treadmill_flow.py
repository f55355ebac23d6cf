"""treadmill, circuit_breakers, flow_hierarchy and reading on hand-built panels whose numbers meet
(or miss) each documented condition by a margin."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from perpscope.regimes import RegimeConfig, circuit_breakers, flow_hierarchy, reading, treadmill

PanelMaker = Callable[..., pl.DataFrame]


def _treadmill_panel(panel_of: PanelMaker, cycles: int) -> pl.DataFrame:
    """``cycles + 1`` long flushes (price −4%, OI −10%, long liquidations) 20 bars apart; between
    them the price bounces +4% and OI comes back in full while funding turns from −0.01% to +0.01%."""
    close, oi, funding, ll = [], [], [], []
    for _ in range(cycles + 1):
        close += [100.0] * 10 + [96.0] * 3 + [100.0] * 7
        oi += [1000.0] * 10 + [900.0] * 3 + [1000.0] * 7
        funding += [0.0001] * 10 + [-0.0001] * 3 + [0.0001] * 7
        ll += [1e5] * 10 + [5e7] * 3 + [1e5] * 7
    n = len(close)
    return panel_of(close, oi=oi, funding=funding, liq_long=ll, liq_short=np.full(n, 1e5), ls=1.8)


def test_treadmill_counts_cycles_and_dates(panel_of: PanelMaker) -> None:
    panel = _treadmill_panel(panel_of, cycles=3)
    tm = treadmill(panel)
    # four flushes → three flush-to-flush cycles in one chain
    assert tm.height == 3
    assert tm["cycle"].to_list() == [1, 2, 3]
    assert set(tm["cycles"]) == {3} and tm["treadmill"].all()
    # each flush starts on the first bar at 96 (bar 10 of its 20-bar block)
    starts = panel["ts_ms"].gather([10, 30, 50]).to_list()
    assert tm["flush_start_ms"].to_list() == starts
    assert tm["next_flush_start_ms"].to_list() == panel["ts_ms"].gather([30, 50, 70]).to_list()
    assert tm["flush_oi_chg"].to_list() == [-0.1, -0.1, -0.1] or np.allclose(tm["flush_oi_chg"], -0.1)
    assert np.allclose(tm["rebuilt_share"], 1.0)
    assert np.allclose(tm["funding_min_8h"], -0.0001) and np.allclose(tm["funding_max_8h"], 0.0001)
    assert "rebuilt 100% of it" in tm["evidence"][0]


def test_no_rebuild_no_cycle(panel_of: PanelMaker) -> None:
    panel = _treadmill_panel(panel_of, cycles=2)
    # OI does not come back after the flushes: the same pattern without the rebuild is no treadmill
    panel = panel.with_columns(pl.col("oi_base").cum_min())
    assert treadmill(panel).height == 0
    assert treadmill(panel, RegimeConfig(rebuild_min=0.5)).height == 0


def test_volatility_breaker(panel_of: PanelMaker) -> None:
    rng = np.random.default_rng(1)
    n_base, n_now = 180, 42  # 30 days then 7 days of 4h bars
    r = np.r_[rng.normal(0, 0.005, n_base), rng.normal(0, 0.02, n_now)]  # volatility ×4
    panel = panel_of(100 * np.exp(np.cumsum(r)))
    cb = circuit_breakers(panel)
    assert cb["check"].to_list() == ["sustained_deleveraging", "spot_led_flow", "volatility_regime"]
    vol = cb.filter(pl.col("check") == "volatility_regime").row(0, named=True)
    assert vol["engaged"] is True and vol["value"] > 2.5
    # without spot data or a flush the other checks cannot tell: null, with the reason
    assert cb.filter(pl.col("check") != "volatility_regime")["engaged"].null_count() == 2
    calm = circuit_breakers(panel_of(100 * np.exp(np.cumsum(rng.normal(0, 0.005, n_base + n_now)))))
    assert calm.filter(pl.col("check") == "volatility_regime")["engaged"][0] is False


def test_sustained_deleveraging(panel_of: PanelMaker) -> None:
    # one flush (OI −10%), then 30 quiet bars: OI stays 10% lower, funding back to the baseline,
    # liquidations a thousandth of the flush's
    close = [100.0] * 10 + [96.0] * 3 + [97.0] * 30
    oi = [1000.0] * 10 + [900.0] * 33
    funding = [0.0001] * 10 + [-0.0001] * 3 + [0.0001] * 30
    ll = [1e5] * 10 + [5e7] * 3 + [1e4] * 30
    cb = circuit_breakers(panel_of(close, oi=oi, funding=funding, liq_long=ll, liq_short=1e4))
    row = cb.filter(pl.col("check") == "sustained_deleveraging").row(0, named=True)
    assert row["engaged"] is True
    assert abs(row["value"] - (-0.1)) < 1e-9


def test_flow_hierarchy(panel_of: PanelMaker) -> None:
    rng = np.random.default_rng(2)
    n = 100
    imb = rng.uniform(-0.5, 0.5, n)
    close = 100 * np.exp(np.cumsum(0.01 * imb))  # each bar's return follows the perp taker imbalance
    spot_imb = rng.uniform(-0.5, 0.5, n)
    panel = panel_of(close).with_columns(
        pl.lit(1e9).alias("volume_usd"),
        pl.Series("taker_imbalance", imb),
        pl.Series("spot_taker_imbalance", spot_imb),
        pl.Series("spot_taker_delta_usd", spot_imb * 1e8),  # spot volume = delta / imbalance = 1e8
    )
    fh = flow_hierarchy(panel)
    last = fh.row(-1, named=True)
    assert abs(last["spot_perp_ratio_w"] - 0.1) < 1e-9  # 1e8 spot per 1e9 perp
    assert last["structural_imbalance"] is True  # 0.1 < 0.2
    assert last["perp_flow_corr"] > 0.99 and last["leader"] == "derivatives"
    swapped = flow_hierarchy(
        panel.rename({"taker_imbalance": "x", "spot_taker_imbalance": "taker_imbalance"}).rename(
            {"x": "spot_taker_imbalance"}
        )
    )
    assert swapped["leader"][-1] == "spot"


def test_reading_one_row_per_series(panel_of: PanelMaker) -> None:
    a = _treadmill_panel(panel_of, cycles=2)
    b = a.with_columns(pl.lit("ETH-USDT-PERP").alias("canonical"))
    r = reading(pl.concat([a, b]))
    assert r.height == 2
    assert set(r["canonical"]) == {"BTC-USDT-PERP", "ETH-USDT-PERP"}
    assert (r["treadmill_cycles"] == 2).all()
    assert r["evidence"].str.starts_with("over ").all()


def test_reading_with_the_callers_labels_is_the_same_reading(panel_of: PanelMaker) -> None:
    a = _treadmill_panel(panel_of, cycles=2)
    panel = pl.concat([a, a.with_columns(pl.lit("ETH-USDT-PERP").alias("canonical"))])
    from perpscope.regimes import classify

    assert reading(panel, labels=classify(panel)).equals(reading(panel))
    try:
        reading(panel, labels=classify(a))
    except ValueError as e:
        assert "labels has" in str(e)
    else:
        raise AssertionError("labels of another panel were accepted")
