"""The compiled grid windows against plain-Python references written from their definitions.

Each kernel runs over several series at once (offsets in ``starts``), so the tests also check that no
window reaches across a series boundary; missing values (NaN) are scattered through the inputs.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from perpscope.metrics.grid_windows import (
    as_float,
    grid_corr,
    grid_quantile,
    grid_sum,
    grid_trailing_z,
    series_starts,
    to_series,
)

values = st.one_of(st.none(), st.integers(-50_000, 50_000).map(lambda c: c / 100))
series_lists = st.lists(st.lists(values, min_size=0, max_size=40), min_size=1, max_size=4)


def _flat(series: list[list[float | None]]) -> tuple[np.ndarray, np.ndarray]:
    xs = [np.nan if v is None else v for s in series for v in s]
    starts = np.cumsum([0, *[len(s) for s in series]]).astype(np.int64)
    return np.array(xs, dtype=np.float64), starts


def _same(got: np.ndarray, want: list[float], tol: float = 1e-6) -> bool:
    return len(got) == len(want) and all(
        (math.isnan(g) and math.isnan(w)) or math.isclose(g, w, rel_tol=tol, abs_tol=tol)
        for g, w in zip(got.tolist(), want, strict=True)
    )


@settings(max_examples=80, deadline=None)
@given(series_lists, st.integers(1, 12), st.integers(1, 6))
# found by hypothesis: a large value leaves the window, then a constant window (z must be NaN, not 3e5)
@example([[-0.84, 361.2, None, -1.13, -1.13, 0.0]], 3, 1)
@example([[43.55, 43.55, 43.55, 0.0]], 3, 1)  # a window equal to the series' first value
def test_trailing_z_is_the_previous_n_rows_of_the_same_series(
    series: list[list[float | None]], n: int, min_samples: int
) -> None:
    x, starts = _flat(series)
    want: list[float] = []
    for s in series:
        for i, v in enumerate(s):
            prev = [p for p in s[max(0, i - n) : i] if p is not None]
            z = math.nan
            if v is not None and len(prev) >= max(min_samples, 2):
                # centred on the series' first value, as the docstring says the kernel's sums are (a
                # window equal to that value is then exactly constant, not off by rounding)
                first = next(p for p in s if p is not None)
                d = [p - first for p in prev]
                mean = sum(d) / len(d)
                var = sum((q - mean) ** 2 for q in d) / (len(d) - 1)
                # the kernel's constant-window rule: a spread below 1e-10 of the mean square is no spread
                mean_sq = sum(q * q for q in d) / len(d)
                if var > 1e-10 * mean_sq:
                    z = (v - first - mean) / math.sqrt(var)
            want.append(z)
    assert _same(grid_trailing_z(x, starts, n, min_samples), want)


def _trailing_z_one_loop(x: np.ndarray, starts: np.ndarray, n: int, min_samples: int) -> np.ndarray:
    """The trailing z-score as one loop of running sums, row after row: the kernel's arithmetic before
    it was cut into blocks (Python floats are the same doubles, so the bits must agree)."""
    out = np.full(x.shape[0], np.nan)
    need = max(min_samples, 2)
    for a, b in zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True):
        known = [v for v in x[a:b].tolist() if not math.isnan(v)]
        if not known:
            continue
        c0 = known[0]
        cnt, s1, s2, last, changed = 0, 0.0, 0.0, math.nan, a
        for i in range(a, b):
            if i - 1 >= a and not math.isnan(x[i - 1]):
                v = float(x[i - 1])
                d = v - c0
                cnt, s1, s2 = cnt + 1, s1 + d, s2 + d * d
                if not math.isnan(last) and v != last:
                    changed = i - 1
                last = v
            if i - 1 - n >= a and not math.isnan(x[i - 1 - n]):
                d = float(x[i - 1 - n]) - c0
                cnt, s1, s2 = cnt - 1, s1 - d, s2 - d * d
            if cnt >= need and not math.isnan(x[i]) and changed > max(a, i - n):
                mean = s1 / cnt
                var = (s2 - s1 * mean) / (cnt - 1)
                sq = s2 / cnt
                if 0.0 < var <= 1e-6 * sq:
                    window = [float(w) - c0 for w in x[max(a, i - n) : i].tolist() if not math.isnan(w)]
                    t1 = 0.0
                    for d in window:
                        t1 += d
                    mean = t1 / len(window)
                    t2, sq = 0.0, 0.0
                    for d in window:
                        t2 += (d - mean) * (d - mean)
                        sq += d * d
                    var = t2 / (len(window) - 1)
                    sq = sq / len(window)
                if var > 1e-10 * sq:
                    out[i] = (float(x[i]) - c0 - mean) / math.sqrt(var)
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.one_of(st.none(), st.integers(0, 3).map(float), st.floats(-1e6, 1e6, allow_nan=False)),
            min_size=0,
            max_size=700,
        ),
        min_size=1,
        max_size=3,
    ),
    st.integers(1, 300),
    st.integers(1, 40),
)
@example([[-0.84, 361.2, None, -1.13, -1.13, 0.0]], 3, 1)
@example([[1e6] + [1.0, 1.0 + 1e-9] * 400], 20, 2)  # near-constant windows after a spike: recounted
def test_trailing_z_blocks_give_the_one_loop_bits(
    series: list[list[float | None]], n: int, min_samples: int
) -> None:
    """Blocks of running sums, then the scores on vectors: every bit as the one sequential loop (series
    longer than a block, windows across blocks, and near-constant windows that are recounted)."""
    x, starts = _flat(series)
    got = grid_trailing_z(x, starts, n, min_samples)
    want = _trailing_z_one_loop(x, starts, n, min_samples)
    assert np.array_equal(got.view(np.int64), want.view(np.int64))


@settings(max_examples=80, deadline=None)
@given(series_lists, st.integers(1, 12))
def test_sum_is_the_last_n_rows_of_the_same_series(series: list[list[float | None]], n: int) -> None:
    x, starts = _flat(series)
    want: list[float] = []
    for s in series:
        for i in range(len(s)):
            window = [p for p in s[max(0, i - n + 1) : i + 1] if p is not None]
            want.append(sum(window) if window else math.nan)
    got = grid_sum(x, starts, n)
    assert _same(got, want)
    # a window of zeros is exactly zero, whatever left it before
    for g, w in zip(got.tolist(), want, strict=True):
        if w == 0.0:
            assert g == 0.0


@settings(max_examples=120, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.integers(0, 6).map(float), values), max_size=40),
        min_size=1,
        max_size=4,
    ),
    st.integers(1, 12),
    st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1 / 3]),
    st.integers(0, 12),
)
def test_quantile_is_the_nearest_rank_of_the_last_n_rows(
    series: list[list[float | None]], n: int, q: float, min_samples: int
) -> None:
    x, starts = _flat(series)
    want: list[float] = []
    for s in series:
        for i in range(len(s)):
            window = sorted(p for p in s[max(0, i - n + 1) : i + 1] if p is not None)
            if not window or len(window) < min_samples:
                want.append(math.nan)
                continue
            f = (len(window) - 1) * q  # "nearest": halves away from zero
            want.append(window[math.floor(f) + (f - math.floor(f) >= 0.5)])
    got = grid_quantile(x, starts, n, q, min_samples)
    assert _same(got, want, tol=0.0)
    # the numbers polars' rolling_quantile gives (what the regimes used before the kernel)
    if min_samples <= n:
        df = pl.DataFrame({"s": np.repeat(np.arange(len(series)), np.diff(starts)), "x": x}).with_columns(
            pl.col("x").fill_nan(None)
        )
        ref = df.select(pl.col("x").rolling_quantile(q, window_size=n, min_samples=min_samples).over("s"))
        assert ref.to_series().equals(to_series("x", got))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(values, values), min_size=0, max_size=40),
        min_size=1,
        max_size=4,
    ),
    st.integers(2, 12),
    st.integers(2, 6),
)
def test_corr_is_pearson_over_full_windows_of_pairs(
    series: list[list[tuple[float | None, float | None]]], n: int, min_pairs: int
) -> None:
    x, starts = _flat([[a for a, _ in s] for s in series])
    y, _ = _flat([[b for _, b in s] for s in series])
    want: list[float] = []
    for s in series:
        for i in range(len(s)):
            r = math.nan
            pairs = [(a, b) for a, b in s[max(0, i - n + 1) : i + 1] if a is not None and b is not None]
            if i >= n - 1 and len(pairs) >= min_pairs:
                ma = sum(a for a, _ in pairs) / len(pairs)
                mb = sum(b for _, b in pairs) / len(pairs)
                va = sum((a - ma) ** 2 for a, _ in pairs) / len(pairs)
                vb = sum((b - mb) ** 2 for _, b in pairs) / len(pairs)
                if va > 1e-9 and vb > 1e-9:  # the kernel's sums leave rounding dust where a value repeats
                    r = sum((a - ma) * (b - mb) for a, b in pairs) / len(pairs) / math.sqrt(va * vb)
            want.append(r)
    got = grid_corr(x, y, starts, n, min_pairs)
    for g, w in zip(got.tolist(), want, strict=True):
        if not math.isnan(w):
            assert math.isclose(g, w, rel_tol=1e-6, abs_tol=1e-6)
        elif not math.isnan(g):  # a window of (near) constant values: no correlation worth the name
            assert abs(g) <= 1.0 + 1e-9


def test_series_starts_and_the_null_round_trip() -> None:
    df = pl.DataFrame({"k": ["a", "a", "b", "c", "c", "c"], "x": [1.0, None, 2.0, None, 3.0, 4.0]})
    assert series_starts(df, ["k"]).tolist() == [0, 2, 3, 6]
    assert series_starts(df.head(0), ["k"]).tolist() == [0]
    # integer ids (the panel's) take an array pass: the same offsets
    ids = df.with_columns(pl.col("k").rank("dense").cast(pl.Int64))
    assert series_starts(ids, ["k"]).tolist() == [0, 2, 3, 6]
    assert series_starts(ids.head(1), ["k"]).tolist() == [0, 1]
    assert series_starts(ids.head(0), ["k"]).tolist() == [0]
    x = as_float(df, "x")
    assert np.isnan(x[1]) and x[4] == 3.0
    back = to_series("x", x)
    assert back.to_list() == df.get_column("x").to_list()


def _long_series(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two series of a few thousand rows (longer than grid_corr's blocks of rows), mostly zeros like a
    liquidation series, with many distinct values (more ranks than grid_quantile's blocks of 64) and
    missing values."""
    rng = np.random.default_rng(seed)
    n = 5_000
    x = np.where(rng.random(n) < 0.7, 0.0, rng.lognormal(10, 2, n).round(1))
    x[rng.random(n) < 0.02] = np.nan
    x[:40] = -rng.random(40)  # negatives below the zeros
    return x, np.array([0, 3_100, n], np.int64)


def test_quantile_of_long_windows_is_the_sorted_windows_nearest_rank() -> None:
    """Windows of hundreds of values among thousands of distinct ones, where the quantile's rank moves
    across whole blocks of ranks the window does not hold."""
    x, starts = _long_series(7)
    for n, q in ((500, 0.9), (64, 0.5), (2_000, 0.99)):
        got = grid_quantile(x, starts, n, q, 2)
        for a, b in itertools.pairwise(starts.tolist()):
            for i in range(a, b):
                w = np.sort(x[max(a, i - n + 1) : i + 1])
                w = w[~np.isnan(w)]
                if len(w) < 2:
                    assert np.isnan(got[i])
                    continue
                f = (len(w) - 1) * q
                assert got[i] == w[math.floor(f) + (f - math.floor(f) >= 0.5)], (n, q, i)


def test_corr_across_blocks_is_the_running_sums_row_after_row() -> None:
    """The correlation of rows in later blocks (grid_corr keeps a block's sums, then divides) is the
    running sums' arithmetic of its docstring, row after row, bit for bit."""
    x, starts = _long_series(8)
    y = np.where(np.isnan(x), np.nan, np.sin(np.arange(x.shape[0])) + 0.01 * np.nan_to_num(x))
    n, min_pairs = 700, 350
    got = grid_corr(x, y, starts, n, min_pairs)
    for a, b in itertools.pairwise(starts.tolist()):
        c, sa, sb, sab, saa, sbb = 0, 0.0, 0.0, 0.0, 0.0, 0.0
        for i in range(a, b):
            for j, sign in ((i, 1), (i - n, -1)):
                if j >= a and not (np.isnan(x[j]) or np.isnan(y[j])):
                    u, v = float(x[j]), float(y[j])
                    c += sign
                    sa, sb = (sa + u, sb + v) if sign > 0 else (sa - u, sb - v)
                    sab = sab + u * v if sign > 0 else sab - u * v
                    saa = saa + u * u if sign > 0 else saa - u * u
                    sbb = sbb + v * v if sign > 0 else sbb - v * v
            want = math.nan
            if i - a >= n - 1 and c >= min_pairs:
                ma, mb = sa / c, sb / c
                va, vb = saa / c - ma * ma, sbb / c - mb * mb
                if va > 0 and vb > 0:
                    want = (sab / c - ma * mb) / math.sqrt(va * vb)
            assert (math.isnan(want) and math.isnan(got[i])) or got[i] == want, i


def test_corr_stays_a_correlation_where_the_raw_sums_cancel() -> None:
    """Two windows found by a fuzz of the kernel (the running sums of raw moments): values of 1e-3 that
    vary by 1e-12 (pure rounding: |r| came out 2.83), and 2-pair windows near 1e5 (|r| 1.0000002).
    Whatever the sums leave, a correlation is within [−1, 1], and a spread below rounding gives none."""
    x = np.array([0.000999999999, 0.000999999998, 0.001000000001, 0.001000000001, 0.001000000001,
                  0.000999999998, 0.000999999999, 0.001000000001, 0.001, 0.001000000001, 0.000999999999,
                  0.001000000002, 0.001, 0.000999999998, 0.000999999998, 0.001, 0.001, 0.001000000001,
                  0.001000000002, 0.001000000001, 0.001000000001, 0.001000000002, 0.001000000001,
                  0.001000000001, 0.000999999998, 0.000999999998, 0.001000000002, 0.001000000002,
                  0.001000000001, 0.001000000001, 0.001000000002, 0.000999999998, 0.001000000002, 0.001,
                  0.001000000002, 0.001, 0.001])  # fmt: skip
    y = 1e5 + np.resize([-2e-6, -2e-6, 2e-6, -2e-6, -1e-6, 1e-6, 1e-6, 1e-6, -2e-6, 2e-6], x.shape[0])
    starts = np.array([0, x.shape[0]], np.int64)
    assert np.isnan(grid_corr(x, y, starts, 2, 2)).all()  # x's spread is below rounding everywhere
    a = np.array([-3.498, -3.501, -3.501, -3.498, -3.499, -3.498, -3.502, -3.498])
    b = np.array([100002.0, 100001.0, 100002.0, 99999.0, 99998.0, 100001.0, 100001.0, 99999.0])
    for u, v in ((a, b), (a, a * 7.0 + 3.0), (b, b)):
        r = grid_corr(u, v, np.array([0, u.shape[0]], np.int64), 2, 2)
        assert (np.abs(r[~np.isnan(r)]) <= 1.0).all()
    r = grid_corr(a, a * 7.0 + 3.0, np.array([0, 8], np.int64), 2, 2)
    assert np.allclose(r[1:][np.diff(a) != 0], 1.0)  # a real spread still correlates
