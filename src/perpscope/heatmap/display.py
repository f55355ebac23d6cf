"""The model book coarsened for a picture: what the HTML chart, the dashboard and the report draw.

A year of 5-minute snapshots × 2,000 price bins is 210 million cells; a chart 1,400 px wide and 720 px
high shows a few hundred thousand at most, and a page that ships them all runs to tens of MB. The
zones, the current map and every table are computed on the full grid; only the picture is coarse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
