"""The TOML spec (parsing, conditions, errors) and the settlement-window comparison."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from perpscope.core.errors import InputError
from perpscope.evaluate import builtin_studies, load_spec, parse_spec, settlement_windows
from perpscope.evaluate.spec import condition


def test_condition_language() -> None:
    df = pl.DataFrame({"a": [1.0, 3.0, 5.0], "b": [-1, 0, 1], "c": [True, False, True]})
    assert df.select(condition("a >= 3 & b != 0")).to_series().to_list() == [False, False, True]
    assert df.select(condition("c")).to_series().to_list() == [True, False, True]
    assert df.select(condition("b == -1")).to_series().to_list() == [True, False, False]
    with pytest.raises(InputError, match="expected a condition"):
        condition("a >>> 3")


def test_spec_errors_say_what_is_missing() -> None:
    with pytest.raises(InputError, match="missing key 'horizons'"):
        parse_spec({"name": "x", "dataset": "lake"})
    with pytest.raises(InputError, match="interval"):
        parse_spec({"name": "x", "dataset": "lake", "horizons": ["soon"]})


def test_builtin_studies_parse() -> None:
    studies = builtin_studies()
    assert {"claim_71pct", "derivatives_signals", "funding_settlement", "price_baselines_1h"} <= set(studies)
    for path in studies.values():
        spec = load_spec(path)
        assert spec.horizons_ms


def _bars(spike: float) -> pl.DataFrame:
    """Ten days of 5m bars, constant activity, ``spike``× volume and trades in the first 5 minutes after
    00/08/16 UTC."""
    n = 10 * 288
    t = np.arange(n, dtype=np.int64) * 300_000
    minute_of_day = (t // 60_000) % 1440
    settle = np.isin(minute_of_day, [0, 480, 960])
    rng = np.random.default_rng(0)
    vol = 1e6 * (1 + 0.05 * rng.normal(size=n)) * np.where(settle, spike, 1.0)
    close = 100 + np.cumsum(rng.normal(0, 0.1, n))
    return pl.DataFrame(
        {
            "ts_ms": t,
            "open": np.concatenate([[100.0], close[:-1]]),
            "close": close,
            "volume_usd": vol,
            "trades": vol / 1e3,
            "taker_buy_usd": vol / 2,
        }
    ).with_columns(pl.col("ts_ms").cast(pl.Datetime("ms", "UTC")))


def test_settlement_spike_is_found_at_offset_zero_only() -> None:
    rows = settlement_windows(_bars(3.0))
    vol = {r["offset_min"]: r for r in rows if r["metric"] == "volume"}
    assert sorted(vol) == list(range(-30, 30, 5))
    assert vol[0]["n_settle"] == 30 - 1  # 3 a day for 10 days, less the first (no reference before it)
    assert vol[0]["diff"] == pytest.approx(2.0, abs=0.1)
    assert vol[0]["ci_lo"] > 1.5
    assert all(abs(vol[o]["diff"]) < 0.05 for o in vol if o != 0)  # no effect elsewhere
    share = {r["offset_min"]: r for r in rows if r["metric"] == "taker_buy_share"}
    assert share[0]["settle_mean"] == pytest.approx(0.5)


def test_settlement_windows_reject_a_wide_window() -> None:
    with pytest.raises(ValueError, match="30 minutes"):
        settlement_windows(_bars(1.0), window_ms=45 * 60_000)
