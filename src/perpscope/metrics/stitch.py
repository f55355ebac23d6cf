"""Stitch one series stored at several bar lengths into one series: the finest data where it exists,
coarser data elsewhere, nothing counted twice and nothing coarser hidden.

A store filled from several sources holds, for one venue and symbol, say 5-minute candles over three
weeks, 1-hour candles over six years and 1-day candles over two. Keeping only the finest length (the old
``finest()``) hid six years of history behind three weeks. Here every stretch is served by the finest
length that covers it:

- **Bars (flows: candles, taker volume, liquidation totals)** for a target length ``every``: each
  source length that divides ``every`` is resampled to ``every`` and, per target bar, the complete
  candidate from the finest length wins (an incomplete finer bar loses to a complete coarser one).
  Lengths coarser than ``every`` are kept at their own length where no chosen bar overlaps them
  (:func:`stitch_bars` says which rows are coarser, the caller decides how to show them).
- **Snapshots (open interest, long/short ratios)**: a snapshot of length ``I`` at ``t`` stands for
  ``[t, t + I)``; a coarser snapshot is dropped where a finer series already covers its instant
  (:func:`stitch_snapshots`).

Inputs are rows of ONE series (one venue and canonical symbol, one price type/kind), in the record
schema; instants are ``Datetime("ms", "UTC")``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from perpscope.metrics.frames import ms


def _spans_overlap(starts: np.ndarray, ends: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """For each candidate ``[lo, hi)``, whether it overlaps any of the sorted, disjoint ``[starts, ends)``."""
    if starts.size == 0:
        return np.zeros(lo.size, dtype=bool)
    i = np.searchsorted(ends, lo, side="right")  # first chosen span ending after the candidate starts
    ok = i < starts.size
    out = np.zeros(lo.size, dtype=bool)
    out[ok] = starts[i[ok]] < hi[ok]
    return out


def _merge_spans(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of spans as sorted, disjoint ``[start, end)`` arrays."""
    if starts.size == 0:
        return starts, ends
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    run_end = np.maximum.accumulate(e)
    new = np.ones(s.size, dtype=bool)
    new[1:] = s[1:] > run_end[:-1]
    idx = np.flatnonzero(new)
    return s[idx], np.append(run_end[idx[1:] - 1], run_end[-1])


def stitch_bars(
    rows: pl.DataFrame,
    every_ms: int,
    resample: Callable[[pl.DataFrame, int], pl.DataFrame],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Bars of one series at several lengths → bars of ``every_ms`` plus the coarser rest.

    Parameters
    ----------
    rows : polars.DataFrame
        Bar rows of one series (``ts_ms`` open, ``interval_ms`` length), any mix of lengths.
    every_ms : int
        Target bar length, ms.
    resample : callable
        ``resample(rows_of_one_length, every_ms)`` → bars of ``every_ms`` with a ``complete`` column
        (:func:`perpscope.metrics.bars.resample_candles` or ``resample_taker_volume``).

    Returns
    -------
    (on_grid, coarser) : tuple of polars.DataFrame
        ``on_grid``: one row per target bar, ``interval_ms = every_ms``, with ``complete`` and
        ``from_ms`` (the source length chosen for the bar, ms). ``coarser``: rows longer than
        ``every_ms`` that overlap no chosen bar, at their own length (same columns). A source length
        that does not divide ``every_ms`` counts as coarser.
    """
    if rows.is_empty():
        empty = rows.with_columns(pl.lit(True).alias("complete"), pl.lit(0, pl.Int64).alias("from_ms"))
        return empty, empty
    lengths = sorted(int(x) for x in rows.get_column("interval_ms").unique())
    fits = [iv for iv in lengths if 0 < iv <= every_ms and every_ms % iv == 0]
    rest = [iv for iv in lengths if iv not in fits]
    cands = [
        resample(rows.filter(pl.col("interval_ms") == iv), every_ms).with_columns(
            pl.lit(iv, pl.Int64).alias("from_ms")
        )
        for iv in fits
    ]
    if len(cands) == 1:  # one source length: its bars are already one per target bar
        grid = cands[0]
    elif cands:
        # per target bar: a complete bar first, then the finest source length
        grid = (
            pl.concat(cands, how="diagonal_relaxed")
            .sort(["ts_ms", "complete", "from_ms"], descending=[False, True, False])
            .unique("ts_ms", keep="first", maintain_order=True)
        )
    else:
        grid = None
    coarse_parts: list[pl.DataFrame] = []
    t0 = grid.get_column("ts_ms").dt.epoch("ms").to_numpy() if grid is not None else np.array([], np.int64)
    starts, ends = _merge_spans(t0, t0 + every_ms)
    for iv in rest:  # finest first: each kept coarse row also hides coarser ones
        c = rows.filter(pl.col("interval_ms") == iv).sort("ts_ms")
        lo = c.get_column("ts_ms").dt.epoch("ms").to_numpy()
        keep = ~_spans_overlap(starts, ends, lo, lo + iv)
        kept = c.filter(pl.Series(keep)).with_columns(
            pl.lit(True).alias("complete"), pl.lit(iv, pl.Int64).alias("from_ms")
        )
        if kept.height:
            coarse_parts.append(kept)
            k = kept.get_column("ts_ms").dt.epoch("ms").to_numpy()
            starts, ends = _merge_spans(np.concatenate([starts, k]), np.concatenate([ends, k + iv]))
    template = (
        grid
        if grid is not None
        else rows.head(0).with_columns(pl.lit(True).alias("complete"), pl.lit(0, pl.Int64).alias("from_ms"))
    )
    on_grid = (
        (grid if grid.get_column("ts_ms").is_sorted() else grid.sort("ts_ms"))
        if grid is not None
        else template
    )
    coarser = (
        pl.concat(coarse_parts, how="diagonal_relaxed").select(template.columns).sort("ts_ms")
        if coarse_parts
        else template.head(0)
    )
    return on_grid, coarser


def stitch_snapshots(rows: pl.DataFrame) -> pl.DataFrame:
    """Snapshots of one series at several sampling lengths → one series, finest where it exists.

    A snapshot stamped ``t`` with length ``I`` (``interval_ms``; 0 = irregular, treated as finest)
    stands for ``[t, t + I)``. Lengths are taken finest first; a snapshot is dropped when its instant
    lies inside a span already covered by a finer series. Instants stamped alike by two lengths keep
    the finer row.

    Returns
    -------
    polars.DataFrame
        The kept rows, sorted by ``ts_ms``.
    """
    if rows.is_empty() or rows.get_column("interval_ms").n_unique() == 1:
        return rows
    starts = np.array([], np.int64)
    ends = np.array([], np.int64)
    kept: list[pl.DataFrame] = []
    for iv in sorted(int(x) for x in rows.get_column("interval_ms").unique()):
        c = rows.filter(pl.col("interval_ms") == iv).sort("ts_ms")
        t = c.get_column("ts_ms").dt.epoch("ms").to_numpy()
        keep = ~_spans_overlap(starts, ends, t, t + 1)
        k = c.filter(pl.Series(keep))
        if k.height:
            kept.append(k)
            kt = k.get_column("ts_ms").dt.epoch("ms").to_numpy()
            # an irregular series (0) covers up to its next snapshot
            span = np.maximum(iv, 1) if iv else np.append(np.diff(kt), 1)
            starts, ends = _merge_spans(np.concatenate([starts, kt]), np.concatenate([ends, kt + span]))
    return pl.concat(kept, how="vertical_relaxed").sort(ms("ts_ms"))
