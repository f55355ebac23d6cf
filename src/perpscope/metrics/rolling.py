"""Where a value stands against its own series' recent past: trailing z-score and percentile.

Both compare the value at ``t`` with the *previous* values of the same series in the window
``(t − window, t)``: the current value is never part of its own baseline, so a spike cannot dampen its
own score, and nothing after ``t`` is used (point in time). Windows are measured in time, not rows,
so series with gaps or with different sampling (1h and 8h funding) are treated alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from perpscope.metrics.frames import (
    KEYS,
    FrameError,
    keys_of,
    ms,
    over,
    require,
    same_series,
    sort_series,
    window,
)
from perpscope.metrics.grid_windows import as_float, grid_trailing_z, series_starts, to_series

#: Minimum number of previous values before a score is given. Thirty is the usual rule of thumb for a
#: mean and standard deviation to be stable enough to compare against.
MIN_SAMPLES = 30


def trailing_zscore(
    value: pl.Expr,
    *,
    window_ms: int,
    time_col: str = "ts_ms",
    by: Sequence[str] = KEYS,
    min_samples: int = MIN_SAMPLES,
) -> pl.Expr:
    """Z-score of each value against the previous values of its series in ``(t − window, t)``.

    Parameters
    ----------
    value : polars.Expr
        The values to score.
    window_ms : int
        Look-back length, ms.
    time_col : str
        Instant column the window is measured on; the frame must be sorted by ``by`` then it.
    by : sequence of str
        Series keys (default ``venue``, ``canonical``).
    min_samples : int
        Previous non-null values needed for a score (default 30); fewer gives null.

    Returns
    -------
    polars.Expr
        ``(x_t − mean) / std`` (dimensionless); null where the window's std is 0 or too short.

    Notes
    -----
    ``mean`` and ``std`` (sample, ddof = 1) are over ``{x_s : t − window < s < t}``.
    """
    w = window(window_ms)
    mean = over(value.rolling_mean_by(time_col, w, min_samples=min_samples, closed="none"), by)
    std = over(value.rolling_std_by(time_col, w, min_samples=min_samples, closed="none"), by)
    return pl.when(std > 0).then((value - mean) / std).otherwise(None)


def trailing_percentile(
    value: pl.Expr,
    *,
    window_ms: int,
    time_col: str = "ts_ms",
    by: Sequence[str] = KEYS,
    min_samples: int = MIN_SAMPLES,
) -> pl.Expr:
    """Share of the previous values in ``(t − window, t)`` that lie below the value at ``t``.

    Parameters
    ----------
    value, window_ms, time_col, by, min_samples
        As in :func:`trailing_zscore`.

    Returns
    -------
    polars.Expr
        A fraction in [0, 1]: 1 = above every previous value in the window, 0 = below every one; ties
        count half. Null with fewer than ``min_samples`` previous values.

    Notes
    -----
    With ``r`` the average rank (1-based) of ``x_t`` among the window's values including itself and
    ``n`` their count, the share of the ``n − 1`` previous values below it (ties half) is
    ``(r − 1) / (n − 1)``. Costs ``O(n log w)``: about 1 s per million rows with a month of 5-minute
    bars, so the panel uses it only on sparse series (funding settlements).
    """
    w = window(window_ms)
    rank = value.rolling_rank_by(time_col, w, method="average", min_samples=min_samples + 1, closed="right")
    n = value.is_not_null().cast(pl.Float64).rolling_sum_by(time_col, w, closed="right")
    return over((rank.cast(pl.Float64) - 1.0) / (n - 1.0), by)


def extreme_flag(
    z: pl.Expr, z_threshold: float, pct: pl.Expr | None = None, pct_threshold: float = 0.5
) -> pl.Expr:
    """Int8 flag of an unusual value: +1 where ``z ≥ z_threshold``, −1 where ``z ≤ −z_threshold``, else 0.

    With ``pct`` (a trailing percentile in [0, 1]) the percentile must agree: ``pct ≥ pct_threshold`` for
    +1, ``pct ≤ 1 − pct_threshold`` for −1. A null score is never extreme (0).
    """
    high, low = z >= z_threshold, z <= -z_threshold
    if pct is not None:
        high, low = high & (pct >= pct_threshold), low & (pct <= 1 - pct_threshold)
    return pl.when(high).then(1).when(low).then(-1).otherwise(0).cast(pl.Int8)


def regular_step(df: pl.DataFrame, *, time_col: str = "ts_ms", by: Sequence[str] = KEYS) -> int | None:
    """The step (ms) when every series of ``df`` is sampled at one fixed step without gaps, else None.

    ``df`` must be sorted by ``by`` then ``time_col``. On such frames a time window is a fixed number of
    rows, and :func:`trailing_zscore_rows` gives the same result as :func:`trailing_zscore`, faster.
    """
    if df.height < 2:
        return None
    d = ms(time_col).diff()
    steps = df.select(d.filter(same_series(by)).unique()).to_series()
    return int(steps[0]) if steps.len() == 1 and steps[0] is not None and steps[0] > 0 else None


def trailing_zscore_rows(
    value: pl.Expr, *, window_ms: int, step_ms: int, by: Sequence[str] = KEYS, min_samples: int = MIN_SAMPLES
) -> pl.Expr:
    """:func:`trailing_zscore` for series sampled every ``step_ms`` without gaps (see :func:`regular_step`).

    Notes
    -----
    The previous values in ``(t − window, t)`` are the last ``⌈window / step⌉ − 1`` rows before ``t``.
    """
    n = -(-window_ms // step_ms) - 1
    if n < 2:
        return trailing_zscore(value, window_ms=window_ms, by=by, min_samples=min_samples)
    k = min(min_samples, n)
    mean = over(value.rolling_mean(n, min_samples=k).shift(1), by)
    std = over(value.rolling_std(n, min_samples=k).shift(1), by)
    return pl.when(std > 0).then((value - mean) / std).otherwise(None)


def add_zscore(
    df: pl.DataFrame,
    column: str,
    name: str,
    *,
    window_ms: int,
    by: Sequence[str] = KEYS,
    min_samples: int = MIN_SAMPLES,
    time_col: str = "ts_ms",
    step_ms: int | None = None,
) -> pl.DataFrame:
    """``df`` with ``name`` = the trailing z-score of ``column`` (see :func:`trailing_zscore`).

    ``df`` must be sorted by ``by`` then ``time_col``. Irregular series use the time window; series
    sampled at one fixed step without gaps use running sums (no sliding window). ``step_ms`` says the frame
    is such a grid (a bar grid built by the caller); by default :func:`regular_step` finds out.

    Parameters
    ----------
    df : polars.DataFrame
        Rows of one or many series, sorted.
    column, name : str
        Column to score; name of the z-score column added.
    window_ms : int
        Look-back, ms (no default: each metric chooses its own, see the callers).
    by : sequence of str
        Series keys (default ``venue``, ``canonical``).
    min_samples : int
        Previous non-null values needed for a score (default 30, :data:`MIN_SAMPLES`).
    time_col : str
        Instant column.
    step_ms : int, optional
        The grid step when the caller knows the frame is gapless (skips the check).

    Notes
    -----
    On a regular grid the previous values in ``(t − window, t)`` are the last ``n = ⌈window / step⌉ − 1``
    rows; their count, sum and sum of squares slide with the row (compiled:
    :func:`perpscope.metrics.grid_windows.grid_trailing_z`), centred on each series' first value so the
    sums stay small; ``var = (Σx² − (Σx)² / c) / (c − 1)``. A window whose variance is below 1e-10 of its
    mean square is treated as constant (no score): rounding leaves it meaningless. NaN values count as
    missing, like nulls.
    """
    return add_zscores(
        df,
        {column: name},
        window_ms=window_ms,
        by=by,
        min_samples=min_samples,
        time_col=time_col,
        step_ms=step_ms,
    )


def add_zscores(
    df: pl.DataFrame,
    names: Mapping[str, str],
    *,
    window_ms: int,
    by: Sequence[str] = KEYS,
    min_samples: int = MIN_SAMPLES,
    time_col: str = "ts_ms",
    step_ms: int | None = None,
) -> pl.DataFrame:
    """:func:`add_zscore` of several columns of one frame (``names``: column → z-score column), in one
    pass: the grid check and each step run once for all of them (same numbers as one call per column).
    """
    step = step_ms if step_ms is not None else regular_step(df, time_col=time_col, by=by)
    if step is None or -(-window_ms // step) - 1 < 2:
        return df.with_columns(
            trailing_zscore(
                pl.col(column), window_ms=window_ms, time_col=time_col, by=by, min_samples=min_samples
            ).alias(name)
            for column, name in names.items()
        )
    starts = series_starts(df, by)
    return df.with_columns(
        to_series(name, grid_zscore(as_float(df, column), starts, window_ms, step, min_samples))
        for column, name in names.items()
    )


def grid_zscore(
    x: np.ndarray, starts: np.ndarray, window_ms: int, step_ms: int, min_samples: int = MIN_SAMPLES
) -> np.ndarray:
    """:func:`trailing_zscore` of the values ``x`` (float64, NaN = missing) of series sampled every
    ``step_ms`` without gaps, their rows starting at ``starts`` (then the row count): the row form of
    :func:`add_zscores` (see its notes), for callers that hold the values as arrays. The window must
    span at least 3 steps (``⌈window / step⌉ − 1 ≥ 2`` previous rows); NaN where there is no score.
    """
    n = -(-window_ms // step_ms) - 1
    if n < 2:
        raise FrameError(
            f"grid_zscore: a window of {window_ms} ms holds under 2 previous rows of {step_ms} ms"
        )
    return grid_trailing_z(x, starts, n, min(min_samples, n))


def with_trailing_stats(
    df: pl.DataFrame,
    column: str,
    *,
    window_ms: int,
    min_samples: int = MIN_SAMPLES,
    percentile: bool = True,
    time_col: str = "ts_ms",
    by: Sequence[str] = KEYS,
    log: bool = False,
) -> pl.DataFrame:
    """Add ``<column>_z`` (and ``<column>_pct``) scored against each series' trailing window.

    Parameters
    ----------
    df : polars.DataFrame
        Rows of one or many series.
    column : str
        Column to score.
    window_ms, min_samples, time_col, by
        As in :func:`trailing_zscore`.
    percentile : bool
        Also add the percentile (costlier; see :func:`trailing_percentile`).
    log : bool
        Score ``ln(1 + x)`` for the z-score instead of ``x``: for heavy-tailed, non-negative values
        (liquidated USD) whose raw standard deviation is dominated by a few spikes. The percentile
        is the same either way.

    Returns
    -------
    polars.DataFrame
        ``df`` sorted by series and time, with the new columns.
    """
    require(df, [column, time_col], "with_trailing_stats")
    if not df.schema[column].is_numeric():
        raise FrameError(f"with_trailing_stats: column {column!r} must be numeric, found {df.schema[column]}")
    keys = keys_of(df, by)
    df = sort_series(df, keys, time_col)
    x = pl.col(column).cast(pl.Float64)
    zx = x.log1p() if log else x
    df = df.with_columns(zx.alias("_zin"))
    df = add_zscore(
        df, "_zin", f"{column}_z", window_ms=window_ms, by=keys, min_samples=min_samples, time_col=time_col
    ).drop("_zin")
    if percentile:
        p = trailing_percentile(x, window_ms=window_ms, time_col=time_col, by=keys, min_samples=min_samples)
        df = df.with_columns(p.alias(f"{column}_pct"))
    return df
