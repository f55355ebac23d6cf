"""What the store holds, for front ends: its coverage and per-coin summary, its price series, a series'
span, raw record pages, and the recorded liquidation events.

Front ends (CLI commands, API, report, alerts, dashboard) may not import the store's readers (an
import-linter contract in ``pyproject.toml``); what they need of the store that is not a computation's
input (:mod:`perpscope.assemble.panel`, :mod:`perpscope.assemble.heatmap`, …) is here.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from perpscope.assemble.errors import StoreInputError
from perpscope.assemble.scope import Scope, label_venues
from perpscope.records import RECORDS
from perpscope.store import Lake
from perpscope.store.coverage import coverage_of
from perpscope.store.reader import read
from perpscope.store.summary import summary

__all__ = [
    "PriceSpan",
    "coverage",
    "coverage_of",
    "price_series",
    "price_span",
    "recorded_liquidations",
    "stored_records",
    "summary",
]

# ``coverage_of`` (coverage of a Selection, with sources) and ``summary`` (the per-coin summary from
# Parquet footers, perpscope.store.summary) are the store's own, re-exported for ``perpscope store info``.


def coverage(lk: Lake) -> pl.DataFrame:
    """What the store holds per record, venue, canonical symbol and series (rows, span, gaps, sources):
    :func:`perpscope.store.coverage.coverage_of` of the whole store (one scan per record: 0.85 s on the
    whole shared data where reading series by series took 3.75 s; same rows, plus ``sources``); an
    empty frame for a store that does not exist yet."""
    if not lk.records_present():  # (not root.is_dir(): an s3:// lake has no folder to look at)
        return pl.DataFrame()
    return coverage_of(lk)


def stored_records(
    lk: Lake, record: str, venue: str, canonical: str, start_ms: int | None, end_ms: int | None
) -> pl.DataFrame:
    """The stored rows of ``record`` for one stored venue label and canonical symbol in
    ``[start_ms, end_ms)`` (ms UTC), sources combined by precedence (``docs/sources.md``); an empty
    frame of the record's schema when the store holds none.

    Raw rows, not a resolved series: what the API's record pages serve. Analyses read
    :func:`perpscope.assemble.panel.market_panel` instead.

    Raises
    ------
    StoreInputError
        For a record name the store does not know.
    """
    if record not in RECORDS:
        raise StoreInputError(f"unknown record {record!r}; records: {', '.join(RECORDS)}")
    if (venue, canonical) not in set(lk.partitions(record)):
        return RECORDS[record].empty()
    return read(lk, record, venue=venue, symbol=canonical, start_ms=start_ms, end_ms=end_ms)


def price_series(lk: Lake, market: str = "perp") -> list[tuple[str, str]]:
    """``(venue, canonical)`` of every stored candle series of one venue in ``market`` (``perp`` or
    ``spot``), sorted: what an overview lists (aggregate labels never hold candles)."""
    suffix = "-PERP" if market == "perp" else "-SPOT"
    return sorted(
        (v, c) for v, c in lk.partitions("candles") if c.endswith(suffix) and len(label_venues(v) or ()) == 1
    )


@dataclass(frozen=True)
class PriceSpan:
    """The stored perp trade candles of a symbol on a scope's price venue.

    Attributes
    ----------
    canonical, venue : str
        The perp and the venue its price comes from.
    first_ms : int
        Open of the first candle, ms UTC.
    end_ms : int
        End of the last candle (open + length), ms UTC: an exclusive end.
    latest_bar_ms : int
        The finest bar length among the candles that end at ``end_ms`` (the newest data's own length).
    """

    canonical: str
    venue: str
    first_ms: int
    end_ms: int
    latest_bar_ms: int


def price_span(lk: Lake, scope: Scope | str, symbol: str, end_ms: int | None = None) -> PriceSpan:
    """The span of ``symbol``'s stored perp trade candles on ``scope``'s price venue (those opening
    before ``end_ms`` when it is given).

    Raises
    ------
    StoreInputError
        When the scope holds no trade candles of the symbol (before ``end_ms``).
    """
    # here, not at the top: the view pulls in the metrics (numba), 0.2 s that `store info` never needs
    from perpscope.assemble.view import resolve_canonical

    sc = scope if isinstance(scope, Scope) else Scope.parse(scope)
    canon, pv = resolve_canonical(lk, symbol, sc)
    c = read(
        lk,
        "candles",
        venue=pv,
        symbol=canon,
        end_ms=end_ms,
        columns=["ts_ms", "interval_ms", "price_type"],
        sources="all",
    ).filter(pl.col("price_type") == "trade")
    if c.is_empty():
        before = "" if end_ms is None else f" opening before {end_ms} ms"
        raise StoreInputError(
            f"no trade candles of {canon} on {pv}{before} in the store at {lk.root}; "
            "import klines (perpscope import PATH) or choose another --venue"
        )
    ends = c.select(
        pl.col("ts_ms").dt.epoch("ms").alias("open"),
        (pl.col("ts_ms").dt.epoch("ms") + pl.col("interval_ms")).alias("end"),
        "interval_ms",
    )
    last = int(ends.get_column("end").max())  # type: ignore[arg-type]
    latest = int(ends.filter(pl.col("end") == last).get_column("interval_ms").min())  # type: ignore[arg-type]
    return PriceSpan(canon, pv, int(ends.get_column("open").min()), last, latest)  # type: ignore[arg-type]


def recorded_liquidations(lk: Lake, top: int = 15) -> pl.DataFrame:
    """Recorded liquidation events by stored series, largest first: ``venue, canonical, long_usd,
    short_usd, events, first_ms, last_ms, total_usd`` (instants ms UTC; USD). Raw events as stored (a
    venue's stream is often a sample: lower bounds); empty when the store holds none."""
    frames = [read(lk, "liquidations", venue=v, symbol=c) for v, c in lk.partitions("liquidations")]
    frames = [f for f in frames if f.height]
    if not frames:
        return pl.DataFrame()
    return (
        pl.concat(frames)
        .group_by("venue", "canonical")
        .agg(
            pl.col("notional_usd").filter(pl.col("side") == "long").sum().alias("long_usd"),
            pl.col("notional_usd").filter(pl.col("side") == "short").sum().alias("short_usd"),
            pl.len().alias("events"),
            pl.col("ts_ms").min().dt.epoch("ms").alias("first_ms"),
            pl.col("ts_ms").max().dt.epoch("ms").alias("last_ms"),
        )
        .with_columns((pl.col("long_usd") + pl.col("short_usd")).alias("total_usd"))
        .sort("total_usd", descending=True)
        .head(top)
    )
