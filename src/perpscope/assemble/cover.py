"""Per-bar cover of a scope by stored series: which series to add at each bar, none counted twice.

Each candidate series (a *unit*: one stored venue label and symbol) has values on the common bar grid
(NaN where it has nothing) and a venue bit mask (:func:`perpscope.assemble.scope.venue_mask`). Units are
taken in priority order; at each bar a unit is added when it has a value and none of its venues is
already counted. So an all-exchange aggregate, where it exists, serves a bar alone; a three-exchange
aggregate is not added to those exchanges' own rows; and per-venue rows fill the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class Unit:
    """One stored series that can serve part of a scope.

    Attributes
    ----------
    venue : str
        Stored venue label (``binance``, ``binance+bybit+okx``, ``all``).
    canonical : str
        Stored canonical symbol (``BTC-USDT-PERP`` or the coin aggregate ``BTC-AGG-PERP``).
    mask : int
        Venues it covers, as bits.
    values : dict of str to numpy.ndarray
        Columns on the common grid (float64, NaN = nothing). The first column decides presence.
    """

    venue: str
    canonical: str
    mask: int
    values: dict[str, np.ndarray]

    @property
    def name(self) -> str:
        return f"{self.venue} {self.canonical}"


@dataclass(frozen=True)
class Cover:
    """Sums over the units chosen at each bar.

    Attributes
    ----------
    sums : dict of str to numpy.ndarray
        Per column, the sum over chosen units; NaN where no unit was chosen or a chosen unit lacked
        that column (a partial sum is not shown as a total).
    chosen : numpy.ndarray
        Per bar, bit ``i`` set when ``units[i]`` was added (uint64; at most 64 units).
    units : list of Unit
        The units in priority order.
    """

    sums: dict[str, np.ndarray]
    chosen: np.ndarray
    units: list[Unit]

    def label_of(self, bits: int) -> str:
        """Names of the units in a ``chosen`` value, ``""`` for none."""
        return ", ".join(u.name for i, u in enumerate(self.units) if bits >> i & 1)

    def labels(self) -> pl.Series:
        """Per bar, the names of the units added (``""`` where none)."""
        uniq, inv = np.unique(self.chosen, return_inverse=True)
        return pl.Series("cover", [self.label_of(int(b)) for b in uniq.tolist()]).gather(inv)


def cover(units: Sequence[Unit], n: int, columns: Sequence[str]) -> Cover:
    """Add, per bar, the units (in the given priority order) that have a value and overlap nothing added.

    Parameters
    ----------
    units : sequence of Unit
        Candidates, highest priority first; only the first 64 are used.
    n : int
        Bars on the grid (length of every value array).
    columns : sequence of str
        Columns to sum; the first decides whether a unit has a value at a bar.
    """
    units = list(units)[:64]
    used = np.zeros(n, dtype=np.int64)
    chosen = np.zeros(n, dtype=np.uint64)
    sums = {c: np.zeros(n) for c in columns}
    any_ = np.zeros(n, dtype=bool)
    for i, u in enumerate(units):
        has = ~np.isnan(u.values[columns[0]])
        ok = has & ((used & u.mask) == 0)
        if not ok.any():
            continue
        used[ok] |= u.mask
        chosen[ok] |= np.uint64(1 << i)
        any_ |= ok
        for c in columns:
            v = u.values.get(c)
            # a chosen unit without this column makes the bar's sum unknown (NaN propagates)
            sums[c][ok] += v[ok] if v is not None else np.nan
    for c in columns:
        sums[c][~any_] = np.nan
    return Cover(sums, chosen, units)
