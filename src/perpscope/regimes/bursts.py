"""Liquidation bursts measured against the series' own history with a robust statistic.

The panel's ``liq_burst`` is a z-score of ``ln(1 + liq_usd)`` against the mean and standard deviation of
the past 30 days. The log's spread is wide on busy months (quiet bars near 0, busy ones near 18), so the
largest bars of a year scored z 2.4–2.7 and were not bursts (docs/regimes.md: 170 M and 186 M USD 4h bars
of the June 2026 week, 30–55× the usual bar). Here a bar is compared with a rolling quantile of the
series' own bars in USD: ``liq_burst_ratio`` = the bar's liquidated USD / the 90th percentile of the bars
of the last ``baseline_ms``. A quantile is moved by no single bar (a tenth of the window's bars would have
to be extreme), and a multiple of it reads in dollars: "six times a busy bar of the month".
"""

from __future__ import annotations

import numpy as np
import polars as pl

from perpscope.metrics.grid_windows import as_float, grid_quantile, series_starts, to_series
from perpscope.regimes.grid import SID, rows_in

#: The column :func:`with_burst_ratio` adds: the bar's liquidated USD over the rolling quantile.
BURST_RATIO = "liq_burst_ratio"


def with_burst_ratio(
    df: pl.DataFrame,
    liq: str,
    baseline_ms: int,
    step: int | None,
    quantile: float,
    min_share: float = 0.25,
) -> pl.DataFrame:
    """``df`` (from :func:`perpscope.regimes.grid.prepare`) with :data:`BURST_RATIO` for the column ``liq``
    (liquidated USD of each bar, long + short).

    The ratio of the bar's value to the ``quantile`` of the series' bars opening in the last
    ``baseline_ms`` (the bar included: one bar moves a quantile of hundreds little). Null where fewer
    than ``min_share`` of the window's bars are known (gapless grid), where the bar's total is unknown,
    or where the quantile is 0 (a series that is mostly zeros has no usual size to compare with).
    """
    x = pl.col(liq).cast(pl.Float64)
    if step is not None and not df.select(x.is_nan().any()).item():
        # gapless grid: the compiled sliding quantile (the same numbers as polars' rolling_quantile with
        # "nearest", which re-sorts the window as it slides: 3× slower on a month of 5-minute bars)
        got = grid_baseline(as_float(df, x), series_starts(df, [SID]), baseline_ms, step, quantile, min_share)
        q = pl.lit(to_series("_q", got))
    elif step is not None:  # NaN (not null) values: polars' own ordering of NaN
        n = rows_in(baseline_ms, step)
        q = x.rolling_quantile(quantile, window_size=n, min_samples=max(2, int(n * min_share))).over(SID)
    else:  # bars missing from the grid: a time window per series
        q = x.rolling_quantile_by("ts_ms", f"{baseline_ms}ms", quantile=quantile).over(SID)
    return df.with_columns(pl.when(q > 0).then(x / q).alias(BURST_RATIO))


def grid_baseline(
    liq: np.ndarray, starts: np.ndarray, baseline_ms: int, step: int, quantile: float, min_share: float = 0.25
) -> np.ndarray:
    """The rolling ``quantile`` of :func:`with_burst_ratio` on a gapless grid of ``step`` ms: ``liq`` the
    bars' liquidated USD (float64, NaN for unknown), ``starts`` the series' first rows
    (:func:`~perpscope.metrics.grid_windows.series_starts`); USD, NaN where too few bars are known."""
    n = rows_in(baseline_ms, step)
    return grid_quantile(liq, starts, n, quantile, max(2, int(n * min_share)))
