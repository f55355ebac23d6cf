"""From a model's book to what a trader reads: the current liquidation map, hot zones, the ensemble.

- :func:`liquidation_map`: USD by price bin and side at the end of a run, cumulative from the current
  price outward (longs below, shorts above).
- :func:`hot_zones`: the ``k`` price windows of fixed relative width holding the most USD, per side,
  chosen greedily without overlap; distance from the current price; uncertainty bands when an ensemble
  is given.
- :func:`run_ensemble`: the same series under every combination of the uncertain parameters; median
  map and p10/p90 bands, in absolute USD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from perpscope.heatmap.liqprice import BracketTable
from perpscope.heatmap.models import HeatmapRun, Model, PriceGrid, default_grid, run_model


@dataclass(frozen=True, slots=True)
class EnsembleRun:
    """Member runs on one shared grid, with the per-bin median and the 10th/90th percentiles."""

    members: tuple[HeatmapRun, ...]
    grid: PriceGrid
    last_close: float
    long_q: np.ndarray  # (3, n_bins): p10, median, p90 of the final long book
    short_q: np.ndarray

    def median_grid_frame(self) -> pl.DataFrame:
        """Median over members of the heatmap grid (same columns as :meth:`HeatmapRun.grid_frame`)."""
        gl = np.median(np.stack([m.out.grid_long for m in self.members]), axis=0)
        gs = np.median(np.stack([m.out.grid_short for m in self.members]), axis=0)
        first = self.members[0]
        n_s, n_b = gl.shape
        edges = self.grid.edges
        df = pl.DataFrame(
            {
                "ts_ms": np.repeat(first.snapshot_ts_ms, n_b),
                "price_lo": np.tile(edges[:-1], n_s),
                "price_hi": np.tile(edges[1:], n_s),
                "long_usd": gl.ravel(),
                "short_usd": gs.ravel(),
            }
        )
        return df.filter((pl.col("long_usd") > 0) | (pl.col("short_usd") > 0)).with_columns(
            pl.col("ts_ms").cast(pl.Datetime("ms", "UTC"))
        )


def run_ensemble(
    members: Sequence[Model],
    bars: pl.DataFrame,
    *,
    grid: PriceGrid | None = None,
    tables: list[BracketTable] | None = None,
    snapshot_every: int | None = None,
) -> EnsembleRun:
    """Run every member on one grid (wide enough for the member with the lowest leverage)."""
    if not members:
        raise ValueError("run_ensemble: no members")
    if grid is None:
        grids = [default_grid(bars, m) for m in members]
        lo = min(g.lo for g in grids)
        hi = max(g.lo + g.width * g.n_bins for g in grids)
        grid = PriceGrid(lo, (hi - lo) / 2000, 2000)
    runs = tuple(run_model(m, bars, grid=grid, tables=tables, snapshot_every=snapshot_every) for m in members)
    fl = np.stack([r.out.final_long for r in runs])
    fs = np.stack([r.out.final_short for r in runs])
    q = (10, 50, 90)
    return EnsembleRun(
        runs, grid, runs[0].last_close, np.percentile(fl, q, axis=0), np.percentile(fs, q, axis=0)
    )


def _books(source: HeatmapRun | EnsembleRun) -> tuple[PriceGrid, float, np.ndarray, np.ndarray]:
    if isinstance(source, EnsembleRun):
        return source.grid, source.last_close, source.long_q[1], source.short_q[1]
    return source.grid, source.last_close, source.out.final_long, source.out.final_short


def liquidation_map(source: HeatmapRun | EnsembleRun) -> pl.DataFrame:
    """The current liquidation map: USD by price bin and side, cumulative from the current price.

    Returns
    -------
    polars.DataFrame
        ``price_lo, price_hi, price_mid, long_usd, short_usd, cum_long_usd, cum_short_usd`` for bins
        holding any USD; ``cum_long_usd`` sums longs from the current price *down* to the bin (what a
        fall to that price would liquidate), ``cum_short_usd`` shorts from the price *up*. For an
        ensemble, the median book (and ``long_p10/long_p90/short_p10/short_p90``).
    """
    grid, price, longs, shorts = _books(source)
    mids = grid.mids
    below = mids <= price
    cum_long = np.where(below, np.cumsum((longs * below)[::-1])[::-1], 0.0)
    cum_short = np.where(~below, np.cumsum(shorts * ~below), 0.0)
    cols: dict[str, np.ndarray] = {
        "price_lo": grid.edges[:-1],
        "price_hi": grid.edges[1:],
        "price_mid": mids,
        "long_usd": longs,
        "short_usd": shorts,
        "cum_long_usd": cum_long,
        "cum_short_usd": cum_short,
    }
    if isinstance(source, EnsembleRun):
        cols |= {
            "long_p10": source.long_q[0],
            "long_p90": source.long_q[2],
            "short_p10": source.short_q[0],
            "short_p90": source.short_q[2],
        }
    return pl.DataFrame(cols).filter((pl.col("long_usd") > 0) | (pl.col("short_usd") > 0))


def top_windows(book: np.ndarray, window_bins: int, k: int) -> list[tuple[int, int, float]]:
    """Greedy non-overlapping windows of ``window_bins`` bins with the largest sums: (start, stop, sum)."""
    if window_bins < 1 or not book.size:
        return []
    c = np.concatenate([[0.0], np.cumsum(book)])
    sums = c[window_bins:] - c[:-window_bins] if book.size >= window_bins else np.array([c[-1]])
    taken = np.zeros(book.size, dtype=bool)
    out: list[tuple[int, int, float]] = []
    for start in np.argsort(-sums, kind="stable"):
        if len(out) == k or sums[start] <= 0:
            break
        stop = min(int(start) + window_bins, book.size)
        if taken[start:stop].any():
            continue
        taken[start:stop] = True
        out.append((int(start), stop, float(sums[start])))
    return out


def hot_zones(
    source: HeatmapRun | EnsembleRun,
    *,
    k: int = 5,
    width_pct: float = 0.5,
    side: Literal["long", "short", "both"] = "both",
) -> pl.DataFrame:
    """The ``k`` hottest zones per side: windows of ``width_pct`` % of the current price.

    Returns
    -------
    polars.DataFrame
        ``side, rank, price_lo, price_hi, price_mid, usd, distance_pct`` (signed, zone mid vs current
        price) and, for an ensemble, ``usd_p10, usd_p90`` (the same window summed in each member's book:
        10th/90th percentiles over members). Sorted by side then rank.
    """
    grid, price, longs, shorts = _books(source)
    wb = max(1, round(price * width_pct / 100.0 / grid.width))
    rows = []
    sides = ("long", "short") if side == "both" else (side,)
    for s in sides:
        mask = grid.mids <= price if s == "long" else grid.mids > price
        book = np.where(mask, longs if s == "long" else shorts, 0.0)
        for rank, (a, b, usd) in enumerate(top_windows(book, wb, k), start=1):
            lo, hi = float(grid.edges[a]), float(grid.edges[b])
            row = {
                "side": s,
                "rank": rank,
                "price_lo": lo,
                "price_hi": hi,
                "price_mid": (lo + hi) / 2,
                "usd": usd,
                "distance_pct": ((lo + hi) / 2 / price - 1.0) * 100.0,
            }
            if isinstance(source, EnsembleRun):
                per = [
                    float((m.out.final_long if s == "long" else m.out.final_short)[a:b].sum())
                    for m in source.members
                ]
                row["usd_p10"], row["usd_p90"] = float(np.percentile(per, 10)), float(np.percentile(per, 90))
            rows.append(row)
    schema = {
        "side": pl.String, "rank": pl.Int64, "price_lo": pl.Float64, "price_hi": pl.Float64,
        "price_mid": pl.Float64, "usd": pl.Float64, "distance_pct": pl.Float64,
    }  # fmt: skip
    if isinstance(source, EnsembleRun):
        schema |= {"usd_p10": pl.Float64, "usd_p90": pl.Float64}
    return pl.DataFrame(rows, schema=schema)
