"""Look-backs on the panel's bar grid, for every regime module.

The panel (:func:`perpscope.metrics.build_panel`) is a gapless grid per series, so a window of ``w`` ms
is ``w / step`` rows: look-backs are row shifts. A panel with gaps (rows filtered out) falls back to
time-based as-of joins, which give the same numbers, slower.

:func:`prepare` sorts the panel once and numbers its series (:data:`SID`, a sorted integer column):
windows run ``.over(SID)``, which on a column flagged sorted is a slice per series, about ten times
cheaper than grouping by the (venue, canonical) strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from perpscope.metrics.frames import KEYS, FrameError, is_sorted_by, ms, require, same_series, sort_series
from perpscope.metrics.grid_windows import as_float, grid_sum, series_starts, to_series
from perpscope.metrics.rolling import regular_step

_LAG = "_lag_ts"
#: Series number (1, 2, … in (venue, canonical) order) that :func:`prepare` adds; flagged sorted.
SID = "_sid"


def prepare(panel: pl.DataFrame, what: str) -> tuple[pl.DataFrame, int | None]:
    """``panel`` sorted by series and time with a series number :data:`SID`, and its bar step (ms)
    when it is a gapless grid. Callers drop :data:`SID` from what they return."""
    require(panel, ["venue", "canonical", "ts_ms"], what)
    if panel.is_empty():
        raise FrameError(f"{what}: the panel is empty; build it over a range the store holds data for")
    df = numbered(panel)
    return df, regular_step(df, by=[SID])


def numbered(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` sorted by series and time (rows already in that order are not sorted again), with
    :data:`SID`; unlike :func:`prepare` it takes any frame with ``venue, canonical, ts_ms``, even empty."""
    df = _numbered(df.drop(SID, strict=False))
    return df if _in_order(df) else _numbered(df.drop(SID).sort([*KEYS, "ts_ms"]))


def _numbered(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with :data:`SID` numbering its runs of one (venue, canonical), flagged sorted."""
    return df.with_columns((~same_series(KEYS)).cum_sum().cast(pl.Int64).set_sorted().alias(SID))


def _in_order(df: pl.DataFrame) -> bool:
    """True when ``df`` (numbered by :func:`_numbered`) is sorted by series then time: time rises
    within each run and the runs' keys rise (compared on each run's first row only: strings are costly,
    and a series split into two runs shows as keys that do not rise)."""
    sid = pl.col(SID)
    rising = (sid != sid.shift(1)) | (pl.col("ts_ms") >= pl.col("ts_ms").shift(1))
    if df.height < 2:
        return True
    if not df.select(rising.slice(1).fill_null(False).all()).item():
        return False
    firsts = df.select(pl.col(*KEYS).filter(sid.ne_missing(sid.shift(1))))
    return is_sorted_by(firsts, list(KEYS))


def series_slices(df: pl.DataFrame) -> list[tuple[int, int]]:
    """(offset, length) of each series' rows in a frame from :func:`prepare` (series are contiguous)."""
    sizes = df.get_column(SID).rle().struct.field("len").to_list()
    offsets = [0]
    for n in sizes[:-1]:
        offsets.append(offsets[-1] + n)
    return list(zip(offsets, sizes, strict=True))


def rows_in(window_ms: int, step: int) -> int:
    """Bars in a window of ``window_ms`` on a grid of ``step`` (at least 1)."""
    return max(1, -(-window_ms // step))


def lagged(df: pl.DataFrame, cols: Sequence[str], window_ms: int, step: int | None) -> pl.DataFrame:
    """``df`` with ``<col>_lag`` = the value of ``col`` at the bar ``window_ms`` earlier.

    On a gapless grid that is ``n = window / step`` rows back within the series; otherwise the last
    bar opening at or before ``t − window`` (an as-of join). Null before a series has that history.
    ``df`` comes from :func:`prepare`.
    """
    if step is not None:
        n = rows_in(window_ms, step)
        same = pl.col(SID) == pl.col(SID).shift(n)  # sorted, contiguous series: n rows back, same series
        return df.with_columns([pl.when(same).then(pl.col(c).shift(n)).alias(f"{c}_lag") for c in cols])
    right = df.select(*KEYS, pl.col("ts_ms").alias(_LAG), *[pl.col(c).alias(f"{c}_lag") for c in cols])
    left = df.with_columns((ms("ts_ms") - window_ms).cast(pl.Int64).cast(df.schema["ts_ms"]).alias(_LAG))
    out = left.sort(_LAG).join_asof(
        right.sort(_LAG), on=_LAG, by=list(KEYS), strategy="backward", check_sortedness=False
    )
    return sort_series(out.drop(_LAG), list(KEYS)).with_columns(pl.col(SID).set_sorted())


def with_window_sums(
    df: pl.DataFrame, sums: Mapping[str, str], window_ms: int, step: int | None
) -> pl.DataFrame:
    """``df`` (from :func:`prepare`) with, per ``column → name`` of ``sums``, the sum of the column over
    the bars opening in ``(t − window, t]`` of each series (nulls skipped; null where all are null).

    On a gapless grid that is the last ``window / step`` rows, summed by a compiled sliding sum
    (:func:`perpscope.metrics.grid_windows.grid_sum`); otherwise a time window per series.
    """
    if step is None:
        w = f"{window_ms}ms"
        return df.with_columns(
            pl.col(c).rolling_sum_by("ts_ms", w, min_samples=1).over(SID).alias(name)
            for c, name in sums.items()
        )
    starts, n = series_starts(df, [SID]), rows_in(window_ms, step)
    return df.with_columns(to_series(name, grid_sum(as_float(df, c), starts, n)) for c, name in sums.items())


def with_window_any(df: pl.DataFrame, col: str, name: str, window_ms: int, step: int | None) -> pl.DataFrame:
    """``df`` with ``name`` = True where ``col`` was true on any bar opening in ``(t − window, t]``
    (null counts as false)."""
    hits = f"_{name}_hits"
    df = df.with_columns(pl.col(col).fill_null(False).cast(pl.Float64).alias(hits))
    return (
        with_window_sums(df, {hits: hits}, window_ms, step)
        .with_columns((pl.col(hits) > 0).alias(name))
        .drop(hits)
    )
