"""The model book coarsened for a picture: what the HTML chart, the dashboard and the report draw.

A year of 5-minute snapshots × 2,000 price bins is 210 million cells; a chart 1,400 px wide and 720 px
high shows a few hundred thousand at most, and a page that ships them all runs to tens of MB. The
zones, the current map and every table are computed on the full grid; only the picture is coarse.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from perpscope.heatmap.models import HeatmapRun, LeverageMix, run_model
from perpscope.heatmap.zones import EnsembleRun


@dataclass(frozen=True)
class CoarseBook:
    """A coarse model book: ``usd[row, col]`` is the USD that would be liquidated (both sides) in price
    row ``row`` at snapshot ``ts_ms[col]``; ``price_mid`` are the rows' centres (quote currency)."""

    ts_ms: np.ndarray
    price_mid: np.ndarray
    usd: np.ndarray

    @property
    def empty(self) -> bool:
        """True when the book holds no USD at all (a model without the history to place positions)."""
        return not bool(np.any(self.usd))


def coarse_book(
    ts_ms: np.ndarray,
    mids: np.ndarray,
    usd: np.ndarray,
    *,
    lo: float,
    hi: float,
    rows: int,
    max_cols: int,
) -> CoarseBook:
    """The bins with centres in ``[lo, hi]`` summed into at most ``rows`` price rows, at most
    ``max_cols`` snapshots.

    Parameters
    ----------
    ts_ms : numpy.ndarray
        Snapshot times, int64 ms UTC (one per row of ``usd``).
    mids : numpy.ndarray
        Price-bin centres of the fine grid, rising, quote currency (one per column of ``usd``).
    usd : numpy.ndarray
        Snapshots × price bins, USD that would be liquidated in each bin.
    lo, hi : float
        Price range drawn.
    rows, max_cols : int
        The most price rows and snapshots in the picture.

    Notes
    -----
    USD in a price band adds up, so a row is the sum of ``k = ⌈bins / rows⌉`` adjacent bins (the same
    number in every row but the last: rows of equal-width price edges would hold 2 or 3 bins in turn
    and draw stripes that are not in the book); its price is the mean of their centres. The book is a
    state, not a flow: the time axis keeps every k-th snapshot counted back from the last (the current
    book is always drawn); summing or averaging snapshots would draw a book that never existed. Cells
    are float32 (7 significant digits of USD): plotly ships typed arrays as binary.
    """
    keep = np.flatnonzero((mids >= lo) & (mids <= hi))
    n_t = usd.shape[0]
    step = max(1, -(-n_t // max_cols))
    cols = np.arange(n_t - 1, -1, -step)[::-1]
    fine = usd[cols][:, keep] if keep.size else np.zeros((cols.size, 0))
    k = max(1, -(-keep.size // max(rows, 1)))
    groups = -(-keep.size // k)
    pad = groups * k - keep.size  # the last row's missing bins: no USD, no price
    cells = np.pad(fine, ((0, 0), (0, pad))).reshape(cols.size, groups, k).sum(axis=2)
    centres = np.pad(mids[keep].astype(np.float64), (0, pad), constant_values=np.nan)
    price = np.nanmean(centres.reshape(groups, k), axis=1) if groups else np.zeros(0)
    return CoarseBook(np.asarray(ts_ms)[cols], price, cells.T.astype(np.float32))


@dataclass(frozen=True)
class LeverageBooks:
    """The current book split by leverage: ``long_usd[k, i]`` is the USD of longs opened at
    ``leverages[k]`` × that would be liquidated in price bin ``i`` of the run's grid (same for shorts).
    Summed over ``k`` it is the run's current book (the ensemble's median book for an ensemble)."""

    leverages: np.ndarray
    long_usd: np.ndarray
    short_usd: np.ndarray


def _final_by_leverage(run: HeatmapRun, bars: pl.DataFrame) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """Each leverage's share of one run's final book: the model rerun with that leverage alone."""
    levs, w = run.model.mix.normalized()
    out: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    for lev, wk in zip(levs.tolist(), w.tolist(), strict=True):
        one = replace(run.model, mix=LeverageMix(f"{lev:g}x", (lev,), (1.0,)))
        r = run_model(one, bars, grid=run.grid, snapshot_every=bars.height)
        out[lev] = (r.out.final_long * wk, r.out.final_short * wk)
    return out


def leverage_books(source: HeatmapRun | EnsembleRun, bars: pl.DataFrame) -> LeverageBooks:
    """The current liquidation book by leverage, for the liquidation map's leverage split.

    Parameters
    ----------
    source : HeatmapRun or EnsembleRun
        The run (or ensemble) whose current book is split.
    bars : polars.DataFrame
        The model input bars the run was computed on.

    Notes
    -----
    The kernel sums the leverages of a mix into one book, but the book is linear in the mix's weights
    (a crossed bin is emptied whatever the leverage of its positions; decay multiplies every bin): the
    run with leverage ``L`` alone, times its weight, is exactly ``L``'s part. Each bin's split is applied
    as shares of the drawn book, so the parts always add up to it (an ensemble: the members' summed
    parts give the shares of the median book; the median of parts would not add up).
    """
    runs = source.members if isinstance(source, EnsembleRun) else (source,)
    parts = [_final_by_leverage(r, bars) for r in runs]
    levs = np.array(sorted({lev for p in parts for lev in p}))
    n_bins = source.grid.n_bins
    raw_l, raw_s = np.zeros((levs.size, n_bins)), np.zeros((levs.size, n_bins))
    for p in parts:
        for k, lev in enumerate(levs.tolist()):
            if lev in p:
                raw_l[k] += p[lev][0]
                raw_s[k] += p[lev][1]
    if isinstance(source, EnsembleRun):
        book_l, book_s = source.long_q[1], source.short_q[1]
    else:
        book_l, book_s = source.out.final_long, source.out.final_short

    def shares(raw: np.ndarray, book: np.ndarray) -> np.ndarray:
        tot = raw.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(tot > 0, raw / np.where(tot > 0, tot, 1.0), 0.0) * book

    return LeverageBooks(levs, shares(raw_l, book_l), shares(raw_s, book_s))
