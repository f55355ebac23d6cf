"""The compiled loops behind episodes' ranges (perpscope.regimes.run_ranges) and the treadmill's flush
arithmetic (perpscope.regimes.treadmill_scan) give the numbers of the polars / numpy forms they
replaced, on random slices full of NaN, nulls, infinities and signed zeros."""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl
import pytest

from perpscope.regimes.run_ranges import run_ranges
from perpscope.regimes.treadmill_scan import flush_bounds, flush_stats, long_led, nan_max, nan_min


def _messy(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.normal(0, 1, n)
    kind = rng.integers(0, 8, n)
    x = np.where(kind == 1, np.nan, x)
    x = np.where(kind == 2, rng.choice([0.0, -0.0], n), x)
    x = np.where(kind == 3, np.round(x), x)  # ties
    return np.where(kind == 4, rng.choice([np.inf, -np.inf], n), x)


@pytest.mark.parametrize("seed", range(4))
def test_run_ranges_are_polars_min_and_max_of_each_run(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 5_000
    x = pl.Series("x", _messy(rng, n)).scatter(rng.integers(0, n, 800), None)
    sizes = rng.integers(1, 12, n)
    sizes = sizes[np.cumsum(sizes) <= n]
    sizes = np.append(sizes, n - sizes.sum()) if sizes.sum() < n else sizes
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    ends = (starts + sizes - 1).astype(np.int64)
    df = pl.DataFrame({"x": x, "run": np.repeat(np.arange(sizes.size), sizes)})
    want = df.group_by("run", maintain_order=True).agg(
        pl.col("x").min().alias("lo"), pl.col("x").max().alias("hi")
    )
    lo, hi = run_ranges(df, "x", starts, ends)
    assert want.get_column("lo").null_count() > 0 and want.get_column("lo").is_nan().sum() > 0
    for got, exp in ((lo, want.get_column("lo")), (hi, want.get_column("hi"))):
        assert got.dtype == pl.Float64
        assert got.is_null().to_list() == exp.is_null().to_list()
        g, e = got.to_list(), exp.to_list()
        # value for value, NaN as NaN and the sign of zero included
        assert [None if v is None else (math.copysign(1, v), repr(v)) for v in g] == [
            None if v is None else (math.copysign(1, v), repr(v)) for v in e
        ]


def test_slice_maxima_minima_and_flush_stats_are_numpys() -> None:
    rng = np.random.default_rng(7)
    x = _messy(rng, 400)
    y = np.abs(_messy(rng, 400))
    for _ in range(2_000):
        a, b = sorted(rng.integers(-5, 410, 2).tolist())
        part = x[max(a, 0) : b]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want_max = float(np.nanmax(part)) if part.size and not np.all(np.isnan(part)) else math.nan
            want_min = float(np.nanmin(part)) if part.size and not np.all(np.isnan(part)) else math.nan
        assert repr(float(nan_max(x, a, b))) == repr(want_max)
        assert repr(float(nan_min(x, a, b))) == repr(want_min)
    for _ in range(500):
        a = int(rng.integers(0, 350))
        b = a + int(rng.integers(0, 20))
        until, n = b + int(rng.integers(0, 30)), int(rng.integers(1, 40))
        got = flush_stats(x, y, y, x, a, b, until, n)
        pre, post = x[max(0, a - n) : a + 1], x[a : min(until, b + n) + 1]

        def nmax(v: np.ndarray) -> float:
            return float(np.nanmax(v)) if v.size and not np.all(np.isnan(v)) else math.nan

        def nmin(v: np.ndarray) -> float:
            return float(np.nanmin(v)) if v.size and not np.all(np.isnan(v)) else math.nan

        want = (
            nmax(pre),
            nmin(post),
            nmax(x[a : b + 1]),
            nmax(y[a : b + 1]),
            nmin(y[a : min(until, b + n) + 1]),
            nmax(np.abs(y[max(0, a - n) : a + 1])),
        )
        assert [repr(float(v)) for v in got] == [repr(v) for v in want]


def test_long_led_reads_the_peak_bar_as_nan_to_num_did() -> None:
    rng = np.random.default_rng(3)
    for _ in range(2_000):
        m = int(rng.integers(1, 8))
        ll = np.where(rng.random(m) < 0.3, np.nan, rng.choice([0.0, 1.0, 5.0, np.inf], m))
        ls = np.where(rng.random(m) < 0.3, np.nan, rng.choice([0.0, 1.0, 5.0, np.inf], m))
        with np.errstate(over="ignore"):  # inf read as the largest double, twice
            liq = np.nan_to_num(ll) + np.nan_to_num(ls)
        if np.all(np.isnan(ll)) or not np.any(liq > 0):
            want = True
        else:
            peak = int(np.nanargmax(liq))
            want = bool(np.nan_to_num(ll[peak]) >= np.nan_to_num(ls[peak]))
        assert long_led(liq, ll, ls, 0, m - 1) == want


def test_flush_bounds_merge_close_flush_bars_and_run_on_while_the_window_reads_a_flush() -> None:
    rng = np.random.default_rng(11)
    ts = np.cumsum(rng.integers(1, 4, 3_000)).astype(np.int64) * 300_000
    flush = rng.random(ts.size) < 0.05
    window = flush | (rng.random(ts.size) < 0.3)
    first, last = flush_bounds(ts, flush, window, 3_600_000)
    idx = np.flatnonzero(flush)
    assert first.size > 10 and first[0] == idx[0]
    # every flush bar lies in one flush; a new flush starts only after a gap longer than gap_ms
    for a, b in zip(first.tolist(), last.tolist(), strict=True):
        assert flush[a] and b >= a
        assert b + 1 == ts.size or not window[b + 1]  # the window's condition ends the flush
    starts = set(first.tolist())
    for prev, i in zip(idx[:-1].tolist(), idx[1:].tolist(), strict=True):
        assert (i in starts) == (ts[i] - ts[prev] > 3_600_000)
    assert flush_bounds(ts, np.zeros(ts.size, dtype=np.bool_), window, 1)[0].size == 0
