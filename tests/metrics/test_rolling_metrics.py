"""Trailing z-score and percentile against a plain-Python reference, and the regular-grid shortcut."""

from __future__ import annotations

import math

import polars as pl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from perpscope.metrics.rolling import (
    add_zscore,
    add_zscores,
    extreme_flag,
    regular_step,
    trailing_percentile,
    trailing_zscore,
    trailing_zscore_rows,
    with_trailing_stats,
)

T0 = 1_760_054_400_000
TS = pl.Datetime("ms", "UTC")


def close(got: list, want: list, tol: float = 1e-9) -> bool:
    """Equal lists of optional floats: the same nulls, the values within ``tol`` (relative and absolute)."""
    return len(got) == len(want) and all(
        (g is None and w is None)
        or (g is not None and w is not None and math.isclose(g, w, rel_tol=tol, abs_tol=tol))
        for g, w in zip(got, want, strict=True)
    )


def reference(ts: list[int], xs: list[float], window: int, min_samples: int) -> tuple[list, list]:
    """For each i, the previous values with t_i − window < t_j < t_i: z and share below (ties half)."""
    zs, ps = [], []
    for i, (t, x) in enumerate(zip(ts, xs, strict=True)):
        prev = [xs[j] for j in range(i) if t - window < ts[j] < t]
        if len(prev) < min_samples:
            zs.append(None)
            ps.append(None)
            continue
        m = sum(prev) / len(prev)
        sd = math.sqrt(sum((p - m) ** 2 for p in prev) / (len(prev) - 1)) if len(prev) > 1 else 0.0
        zs.append((x - m) / sd if sd > 0 else None)
        ps.append((sum(p < x for p in prev) + 0.5 * sum(p == x for p in prev)) / len(prev))
    return zs, ps


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 5), st.integers(-20, 20)), min_size=1, max_size=60),
    st.integers(2, 12),
    st.integers(2, 6),
)
def test_z_and_percentile_match_the_reference_on_irregular_series(
    steps: list[tuple[int, int]], window_steps: int, min_samples: int
) -> None:
    ts, t = [], T0
    for dt, _ in steps:
        t += dt * 60_000
        ts.append(t)
    xs = [float(v) for _, v in steps]
    w = window_steps * 60_000
    df = pl.DataFrame({"venue": "v", "canonical": "c", "ts_ms": pl.Series(ts).cast(TS), "x": xs})
    out = df.select(
        trailing_zscore(pl.col("x"), window_ms=w, min_samples=min_samples).alias("z"),
        trailing_percentile(pl.col("x"), window_ms=w, min_samples=min_samples).alias("p"),
    )
    zs, ps = reference(ts, xs, w, min_samples)
    assert close(out["z"].to_list(), zs)
    assert close(out["p"].to_list(), ps)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=80), st.integers(2, 30))
def test_the_row_shortcut_equals_the_time_window_on_a_regular_grid(
    xs: list[float], window_steps: int
) -> None:
    step = 300_000
    df = pl.DataFrame(
        {
            "venue": "v",
            "canonical": ["a"] * len(xs) + ["b"] * len(xs),
            "ts_ms": pl.Series([T0 + i * step for i in range(len(xs))] * 2).cast(TS),
            "x": xs + xs[::-1],
        }
    )
    assert regular_step(df) == (step if len(xs) > 1 else None)
    w = window_steps * step
    out = df.select(
        trailing_zscore(pl.col("x"), window_ms=w, min_samples=2).alias("time"),
        trailing_zscore_rows(pl.col("x"), window_ms=w, step_ms=step, min_samples=2).alias("rows"),
    )
    assert close(out["rows"].to_list(), out["time"].to_list())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-100_000, 100_000), min_size=1, max_size=80), st.integers(2, 30))
def test_the_running_sum_form_equals_the_time_window_on_a_regular_grid(
    cents: list[int], window_steps: int
) -> None:
    """Values at a resolution of 0.01 (prices, rates in basis points): a window's spread is either zero
    or far above rounding, where the running-sum form and the sliding window agree."""
    step = 300_000
    xs = [c / 100 for c in cents]
    df = pl.DataFrame(
        {
            "venue": "v",
            "canonical": ["a"] * len(xs) + ["b"] * len(xs),
            "ts_ms": pl.Series([T0 + i * step for i in range(len(xs))] * 2).cast(TS),
            "x": xs + xs[::-1],
        }
    )
    w = window_steps * step
    exact = df.select(trailing_zscore(pl.col("x"), window_ms=w, min_samples=2))["x"].to_list()
    sums = add_zscore(df, "x", "z", window_ms=w, min_samples=2)["z"].to_list()
    assert close(sums, exact, tol=1e-6)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-100_000, 100_000), st.integers(1, 5_000)), min_size=1, max_size=60),
    st.integers(2, 20),
    st.booleans(),
)
# the reversed y series ends on a window of two 0.01s, its first value, after 0.03 and 0.02 passed
# through the running sums: a constant window has no score (the sums' rounding gave one, -4.3e-9)
@example(pairs=[(0, 1), (0, 1), (0, 1), (0, 2), (0, 3), (0, 1)], window_steps=3, gap=False)
def test_several_zscores_in_one_pass_equal_the_time_window_of_each_column(
    pairs: list[tuple[int, int]], window_steps: int, gap: bool
) -> None:
    """Two columns scored in one call each equal the plain time-window z-score of that column alone,
    on a regular grid (running sums) and with a gap (time windows); the frame keeps its columns."""
    step = 300_000
    xs, ys = [a / 100 for a, _ in pairs], [b / 100 for _, b in pairs]
    ts = [T0 + (i + (5 if gap and i >= len(xs) // 2 else 0)) * step for i in range(len(xs))]
    df = pl.DataFrame(
        {
            "venue": "v",
            "canonical": ["a"] * len(xs) + ["b"] * len(xs),
            "ts_ms": pl.Series(ts * 2).cast(TS),
            "x": xs + xs[::-1],
            "y": ys + ys[::-1],
        }
    )
    w = window_steps * step
    got = add_zscores(df, {"x": "zx", "y": "zy"}, window_ms=w, min_samples=2)
    assert got.columns == [*df.columns, "zx", "zy"]
    for col, z in (("x", "zx"), ("y", "zy")):
        exact = df.select(trailing_zscore(pl.col(col), window_ms=w, min_samples=2))[col].to_list()
        assert close(got[z].to_list(), exact, tol=1e-6), col


def test_with_trailing_stats_names_columns_and_scores_logs() -> None:
    df = pl.DataFrame(
        {
            "venue": "v",
            "canonical": "c",
            "ts_ms": pl.Series([T0 + i for i in range(40)]).cast(TS),
            "usd": [100.0] * 20 + [1000.0] * 19 + [1e6],
        }
    )
    out = with_trailing_stats(df, "usd", window_ms=1000, min_samples=5, log=True)
    assert {"usd_z", "usd_pct"} <= set(out.columns)
    assert out["usd_pct"][-1] == 1.0 and out["usd_z"][-1] > 3


def test_extreme_flag_needs_the_score_and_when_given_the_percentile_to_agree() -> None:
    df = pl.DataFrame(
        {
            "z": [2.5, 2.5, -2.5, -2.5, 1.0, None, 2.0],
            "pct": [0.97, 0.90, 0.02, 0.10, 0.99, 0.99, None],
        }
    )
    alone = df.select(extreme_flag(pl.col("z"), 2.0)).to_series().to_list()
    assert alone == [1, 1, -1, -1, 0, 0, 1]  # |z| ≥ 2 is enough; a null score is never extreme
    both = df.select(extreme_flag(pl.col("z"), 2.0, pl.col("pct"), 0.95)).to_series().to_list()
    assert both == [1, 0, -1, 0, 0, 0, 0]  # the percentile must agree; a null percentile never does
