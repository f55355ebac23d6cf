"""Event studies: forward outcomes by hand, de-clustering, baselines and label starts."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from perpscope.evaluate.events import decluster, event_study, forward_outcomes, label_signals

H = 3_600_000


def test_forward_outcomes_by_hand(panel_of) -> None:  # type: ignore[no-untyped-def]
    p = panel_of([100, 110, 99, 121, 120])
    f = forward_outcomes(p, [2 * H])
    row = f.row(0, named=True)
    # entry at open of bar 1 (= 100), exit at close of bar 2 (= 99): −1%
    assert row["ret_2h"] == pytest.approx(99 / 100 - 1)
    # lows of bars 1..2: min(100, 110) = 100, min(110, 99) = 99 → −1% drawdown
    assert row["dd_2h"] == pytest.approx(-0.01)
    # squared log returns of bars 1 and 2: ln(110/100)², ln(99/110)²
    assert row["vol_2h"] == pytest.approx(math.sqrt(math.log(1.1) ** 2 + math.log(0.9) ** 2))
    assert f.row(2, named=True)["past_ret_2h"] == pytest.approx(99 / 100 - 1)
    assert f.get_column("ret_2h").null_count() == 2  # the last two bars have no full window


def test_horizon_must_be_a_multiple_of_the_bar(panel_of) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="multiple"):
        forward_outcomes(panel_of([1.0, 2.0, 3.0]), [H // 2])


def test_decluster_keeps_one_trigger_per_horizon() -> None:
    t = np.array([0, 1, 2, 5, 6, 11]) * H
    assert decluster(t, 5 * H).tolist() == [True, False, False, True, False, True]


def test_event_study_counts_independent_events_and_compares_with_the_window(panel_of) -> None:  # type: ignore[no-untyped-def]
    n = 200
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    sig = np.zeros(n, dtype=bool)
    sig[[10, 11, 12, 50, 120]] = True  # a cluster of three, then two lone triggers
    f = forward_outcomes(panel_of(close, sig=sig), [H, 24 * H])
    rows = {r.horizon: r for r in event_study(f, {"s": pl.col("sig")}, [H, 24 * H])}
    assert rows["1h"].n_triggers == 5 and rows["1h"].n_events == 5
    assert rows["1d"].n_events == 3  # 10–12 merge at a 24h horizon
    r = rows["1d"]
    rets = f.filter(pl.col("ts_ms").dt.epoch("ms").is_in([10 * H, 50 * H, 120 * H])).get_column("ret_1d")
    assert r.mean_ret == pytest.approx(rets.mean())
    assert r.ci_lo < r.mean_ret < r.ci_hi
    assert r.base_mean_ret == pytest.approx(f.get_column("ret_1d").drop_nulls().mean())
    assert 0 <= r.hit_lo <= r.hit_rate <= r.hit_hi <= 1


def test_label_signals_fire_on_label_starts(panel_of) -> None:  # type: ignore[no-untyped-def]
    lab = ["a", "a", "b", "b", "a", None]
    p = panel_of([1.0] * 6, regime=lab)
    sig = label_signals(p, "regime")
    got = p.select(**{k: v for k, v in sig.items()})
    assert got.get_column("regime=a").to_list() == [True, False, False, False, True, None]
    assert got.get_column("regime=b").to_list() == [False, False, True, False, False, None]
