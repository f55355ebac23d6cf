"""The market view's data types and small helpers shared by :mod:`perpscope.assemble.view` (resolution)
and :mod:`perpscope.assemble.measures` (one function per measure)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from perpscope.assemble.scope import Scope
from perpscope.core.time import HOUR_MS, interval_label
from perpscope.store import Lake

TS = pl.Datetime("ms", "UTC")
#: Funding rates are compared per 8 hours.
_8H = 8 * HOUR_MS


@dataclass(frozen=True)
class Part:
    """A stored series that fed a measure: where, which sources and bar lengths, from when to when."""

    measure: str
    venue: str
    canonical: str
    sources: tuple[str, ...]
    lengths_ms: tuple[int, ...]
    first_ms: int
    last_ms: int
    rows: int

    def describe(self) -> str:
        lens = "·".join(interval_label(x) if x else "irregular" for x in self.lengths_ms)
        src = ", ".join(dict.fromkeys(s.split(":")[1] if s.count(":") else s for s in self.sources))
        return f"{self.venue} {self.canonical} {lens} ({src})"

    def to_json(self) -> dict[str, object]:
        return {
            "venue": self.venue,
            "canonical": self.canonical,
            "sources": list(self.sources),
            "bar_lengths_ms": list(self.lengths_ms),
            "first_ms": self.first_ms,
            "last_ms": self.last_ms,
            "rows": self.rows,
        }


@dataclass
class MarketView:
    """The resolved inputs of one perp and scope over ``[start_ms, end_ms)`` at ``every_ms`` bars.

    Attributes
    ----------
    frames : dict of str to polars.DataFrame
        Record frames for :func:`perpscope.metrics.build_panel` (``candles``, ``taker_volume``,
        ``funding``, ``open_interest``, ``liquidation_totals``, ``long_short_ratios``), one series
        labelled ``venue = scope.label``, from ``start_ms`` minus the look-back.
    parts : list of Part
        The stored series behind each measure.
    covers : dict of str to polars.DataFrame
        Per summed measure (``open_interest``, ``liquidations``, ``funding`` of several venues):
        ``ts_ms`` (bar open) and ``cover`` (the stored series added in that bar, "" for none).
    coarse : dict of str to polars.DataFrame
        Bars longer than ``every_ms`` where nothing finer exists (not on the panel's grid).
    by_venue : dict of str to polars.DataFrame
        ``open_interest``: ``ts_ms, venue, oi_usd`` per venue; ``funding``: ``ts_ms, venue, rate_8h``.
    notes : list of str
        Substitutions and limits a reader must know.
    """

    coin: str
    canonical: str
    scope: Scope
    start_ms: int
    end_ms: int
    every_ms: int
    price_venue: str
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    parts: list[Part] = field(default_factory=list)
    covers: dict[str, pl.DataFrame] = field(default_factory=dict)
    coarse: dict[str, pl.DataFrame] = field(default_factory=dict)
    by_venue: dict[str, pl.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def agg_symbol(canonical: str) -> str:
    """The per-coin aggregate of a canonical perp: ``BTC-USDT-PERP`` → ``BTC-AGG-PERP``."""
    return f"{canonical.split('-')[0]}-AGG-PERP"


def ms_of(df: pl.DataFrame, col: str = "ts_ms") -> np.ndarray:
    return df.get_column(col).dt.epoch("ms").to_numpy()


def stored_venues(lk: Lake, record: str, canonical: str) -> list[str]:
    """Venue labels holding ``record`` for ``canonical`` (a glob on one symbol's folders, no scan)."""
    return sorted({f.parent.parent.name.split("=", 1)[1] for f in lk.month_files(record, None, canonical)})


def part_of(measure: str, venue: str, canonical: str, rows: pl.DataFrame, lengths: list[int]) -> Part:
    lf = rows.lazy()
    if "interval_ms" in rows.columns and 0 not in lengths:  # the rows of the lengths used, not the rest
        lf = lf.filter(pl.col("interval_ms").is_in(lengths))
    ts = pl.col("ts_ms").dt.epoch("ms")
    aggs = [ts.min().alias("lo"), ts.max().alias("hi"), pl.len().alias("n")]
    if "source" in rows.columns:  # sources come in long runs: the runs' first rows hold every one
        src = pl.col("source")
        aggs.append(src.filter(src.ne_missing(src.shift(1))).unique().implode().alias("src"))
    got = lf.select(aggs).collect().row(0, named=True)
    return Part(
        measure,
        venue,
        canonical,
        tuple(sorted(got.get("src") or ())),
        tuple(sorted(lengths)),
        int(got["lo"]),
        int(got["hi"]),
        int(got["n"]),
    )


def relabel(df: pl.DataFrame, view: MarketView, canonical: str | None = None) -> pl.DataFrame:
    return df.with_columns(
        pl.lit(view.scope.label).alias("venue"), pl.lit(canonical or view.canonical).alias("canonical")
    )
