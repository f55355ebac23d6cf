"""The treadmill's and breakers' arrays read from the labels the fast way are the definition's: the flush
flag is ``regime == "deleveraging_flush"`` (null: False), the liquidation sum ``nan_to_num + nan_to_num``,
and the series slices are the runs of the series number."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from perpscope.regimes.config import RegimeConfig
from perpscope.regimes.grid import SID, series_slices
from perpscope.regimes.treadmill import _is_flush, _known_sum, _Series, _vol_regime


def test_flush_flag_is_the_text_comparison() -> None:
    words = [
        "deleveraging_flush",
        "deleveraging_flusH",  # same length and first four bytes: compared as text
        "deleveraging_flush!",
        None,
        "dele",
        "neutral",
        "deleveraging_flush",
        "x" * 40,
    ]
    s = pl.Series("regime", words * 50)
    want = (s == "deleveraging_flush").fill_null(False).to_numpy()
    assert want.sum() == 100
    np.testing.assert_array_equal(_is_flush(s), want)
    np.testing.assert_array_equal(_is_flush(s.slice(3, 200)), want[3:203])  # a view into a longer column
    # a column polars does not keep as string views (categorical): the comparison itself
    cat = s.cast(pl.Categorical)
    np.testing.assert_array_equal(_is_flush(cat), (cat == "deleveraging_flush").fill_null(False).to_numpy())


def test_liquidation_sum_is_nan_to_num_of_each() -> None:
    big = np.finfo(np.float64).max
    a = np.array([1.0, np.nan, np.inf, -np.inf, big, np.nan, 2.5, -np.inf])
    b = np.array([2.0, 3.0, 1.0, np.inf, big, np.nan, np.nan, -1.0])
    with np.errstate(over="ignore"):
        want = np.nan_to_num(a) + np.nan_to_num(b)
        got = _known_sum(a, b)
    assert got.tobytes() == want.tobytes()


def test_series_slices_are_the_runs_of_the_series_number() -> None:
    sid = pl.Series(SID, [1, 1, 1, 2, 5, 5, 7], dtype=pl.Int64)
    df = pl.DataFrame([sid])
    rle = sid.rle()
    lengths = rle.struct.field("len").to_list()
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).tolist()
    assert series_slices(df) == list(zip(offsets, lengths, strict=True))
    assert series_slices(df) == [(0, 3), (3, 1), (4, 2), (6, 1)]


def _vol_regime_whole(s: object, cfg: RegimeConfig, m: int, k: int) -> dict[str, object]:
    """The volatility check read from the log returns of the whole series (its definition)."""
    close = s.close  # type: ignore[attr-defined]
    r = np.diff(np.log(close))
    if r.size < m + 10:
        return {"engaged": None}
    now, base = r[-m:], r[max(0, r.size - m - k) : r.size - m]
    v_now = float(np.nanstd(now, ddof=1))
    v_base = float(np.nanstd(base, ddof=1)) if base.size > 2 else float("nan")
    ratio = v_now / v_base if v_base > 0 else float("nan")
    if np.isnan(ratio):
        return {"engaged": None}
    return {"engaged": bool(ratio >= cfg.vol_change or ratio <= 1.0 / cfg.vol_change), "value": ratio}


@pytest.mark.filterwarnings("ignore:Degrees of freedom")  # a window of one return, in both
def test_volatility_check_reads_the_last_returns_as_the_whole_series_gives() -> None:
    rng = np.random.default_rng(11)
    cfg = RegimeConfig()
    for size in (5, 30, 200, 1_000):
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, size)))
        close[rng.integers(0, size, 3)] = np.nan
        flags = np.zeros(size, bool)
        s = _Series("v", "c", np.arange(size, dtype=np.int64), *[close] * 8, flags, flags)
        for m, k in ((5, 3), (20, 8), (20, 100), (50, 2_000), (1, 1)):
            got, want = _vol_regime(s, cfg, m, k), _vol_regime_whole(s, cfg, m, k)
            assert got["engaged"] == want["engaged"], (size, m, k)
            if want["engaged"] is not None:
                assert got["value"] == want["value"], (size, m, k)
