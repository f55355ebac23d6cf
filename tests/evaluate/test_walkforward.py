"""Walk-forward: purging and embargo, a detectable signal is detected, noise stays noise."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from perpscope.evaluate import parse_spec, run_study
from perpscope.evaluate.events import forward_outcomes
from perpscope.evaluate.walkforward import Costs, WalkForwardConfig, folds, predict, score

H = 3_600_000
D = 24 * H


def test_folds_purge_and_embargo() -> None:
    t = np.arange(0, 100 * D, H, dtype=np.int64)
    cfg = WalkForwardConfig(horizon_ms=D, train_min_ms=30 * D, test_ms=10 * D)
    n = 0
    for train, test in folds(t, H, cfg):
        s = t[test].min()
        # every training label (t + bar + h) ends at least one horizon (the embargo) before the test
        assert (t[train] + H + D).max() <= s - D
        assert not (train & test).any()
        n += 1
    assert n == 7
    roll = WalkForwardConfig(horizon_ms=D, train_min_ms=30 * D, test_ms=10 * D, rolling_ms=20 * D)
    for train, test in folds(t, H, roll):
        assert t[train].min() >= t[test].min() - 20 * D


def _series(n: int, informative: bool, seed: int = 0) -> pl.DataFrame:
    """Hourly bars; feature ``x`` known at bar t; if informative, bar t+1's return has the sign of x."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    r = rng.normal(0, 0.01, n)
    if informative:
        r[1:] = np.abs(r[1:]) * np.sign(x[:-1])
    close = 100 * np.exp(np.cumsum(r))
    o = np.concatenate([[close[0]], close[:-1]])
    return pl.DataFrame(
        {
            "venue": "t",
            "canonical": "X-USDT-PERP",
            "ts_ms": np.arange(n, dtype=np.int64) * H,
            "open": o,
            "high": np.maximum(o, close),
            "low": np.minimum(o, close),
            "close": close,
            "x": x,
        }
    ).with_columns(pl.col("ts_ms").cast(pl.Datetime("ms", "UTC")))


def test_an_informative_feature_is_found_and_noise_is_not() -> None:
    cfg = WalkForwardConfig(horizon_ms=H, train_min_ms=30 * D, test_ms=10 * D)
    for informative in (True, False):
        f = forward_outcomes(_series(24 * 120, informative), [H]).drop_nulls(["ret_1h", "x"])
        pred, coefs = predict(f, ["x"], cfg)
        res, net, _ = score("x", ["x"], pred, H, H, Costs(fee_bps=0, funding=False), coefficients=coefs)
        if informative:
            assert res.hit_rate > 0.99 and res.pt_p < 1e-6 and res.brier_skill > 0.5
            assert coefs["x"] > 0
        else:
            assert res.hit_lo < 0.5 < res.hit_hi or abs(res.hit_rate - 0.5) < 0.03
            assert res.brier_skill < 0.01
        assert len(net) == res.n_indep


def test_overlapping_horizons_use_non_overlapping_periods_for_exact_tests() -> None:
    f = forward_outcomes(_series(24 * 100, False), [D]).drop_nulls(["ret_1d", "x"])
    pred, _ = predict(f, ["x"], WalkForwardConfig(horizon_ms=D, train_min_ms=30 * D, test_ms=10 * D))
    res, net, _ = score("x", ["x"], pred, D, H, Costs())
    assert res.n_indep == -(-res.n // 24)  # every 24th hourly row
    assert len(net) == res.n_indep


def test_study_logs_every_trial_and_corrects_for_them() -> None:
    panel = _series(24 * 150, False, seed=3)
    spec = parse_spec(
        {
            "name": "noise",
            "dataset": "lake",
            "horizons": ["1h", "8h"],
            "walkforward": {
                "train_min": "30d",
                "test": "15d",
                "variants": [{"name": "x", "features": ["x"]}, {"name": "bar", "features": ["bar_ret"]}],
            },
            "costs": {"fee_bps": 0, "funding": False},
        }
    )
    res = run_study(spec, panel)
    assert res["trials"]["count"] == 2 * 3  # two horizons × (prior + two variants)
    assert len(res["trials"]["log"]) == 6
    assert {s["horizon"] for s in res["snooping"]} == {"1h", "8h"}
    assert all(s["pvalue_spa"] > 0.01 for s in res["snooping"])  # noise: nothing survives
    assert res["deflated_sharpe"]["n_trials"] == 6
    assert res["deflated_sharpe"]["dsr"] < 0.95


def test_missing_feature_is_an_input_error() -> None:
    from perpscope.core.errors import InputError

    spec = parse_spec(
        {
            "name": "bad",
            "dataset": "lake",
            "horizons": ["1h"],
            "walkforward": {"variants": [{"name": "v", "features": ["nope"]}]},
        }
    )
    with pytest.raises(InputError, match="nope"):
        run_study(spec, _series(200, False))
