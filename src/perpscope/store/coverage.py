"""Coverage: what the store holds per record, venue, symbol and series, from when to when, with gaps.

A *series* is the set of rows that should be evenly spaced: one interval of one price type for
candles, one ratio kind for long/short ratios, and so on. Gaps are reported where consecutive rows of
a series are further apart than the series' interval (``interval_ms``). Event records (trades,
liquidations) and irregular snapshots have no expected spacing and report no gaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from perpscope.core.time import interval_label
from perpscope.records import RECORDS
from perpscope.store.lake import Lake

#: Columns that split a record into evenly spaced series (besides venue and symbol).
SERIES_COLUMNS: dict[str, tuple[str, ...]] = {
    "candles": ("price_type", "interval_ms"),
    "taker_volume": ("interval_ms",),
    "funding": (),
    "open_interest": ("interval_ms",),
    "liquidation_totals": ("interval_ms",),
    "long_short_ratios": ("kind", "interval_ms"),
}
#: Allowed lateness before a step counts as a gap (venues stamp funding a few ms late, etc.).
TOLERANCE_MS = 1_000
#: Gaps listed per series in the coverage table (all are counted).
MAX_LISTED_GAPS = 5


@dataclass(frozen=True)
class Gap:
    """No rows between ``after_ms`` (last row before the hole) and ``before_ms`` (first row after)."""

    after_ms: int
    before_ms: int


def coverage(lake: Lake) -> pl.DataFrame:
    """One row per record, venue, canonical symbol and series.

    Returns
    -------
    polars.DataFrame
        Columns ``record, venue, canonical, series, rows, first_ms, last_ms, interval_ms, gaps,
        missing_ms, gap_list`` (``gap_list``: up to :data:`MAX_LISTED_GAPS` ``[after_ms, before_ms]``
        pairs; ``missing_ms``: total time inside gaps). Instants are int ms UTC.
    """
    rows: list[dict[str, object]] = []
    for name in lake.records_present():
        rt = RECORDS[name]
        series_cols = SERIES_COLUMNS.get(name, ())
        need = [rt.time_col, *series_cols]
        if name == "funding":
            need.append("interval_ms")
        for venue, canon in lake.partitions(name):
            files = lake.month_files(name, venue, canon)
            df = (
                pl.scan_parquet(files, hive_partitioning=False)
                .select(list(dict.fromkeys(need)))
                .with_columns(pl.col(rt.time_col).dt.epoch("ms").alias("__t"))
                .collect()
            )
            groups = df.partition_by(list(series_cols), as_dict=True) if series_cols else {(): df}
            for gkey, g in sorted(groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
                rows.append(_series_row(name, venue, canon, series_cols, gkey, g))
    schema: dict[str, pl.DataType] = {
        "record": pl.String(),
        "venue": pl.String(),
        "canonical": pl.String(),
        "series": pl.String(),
        "rows": pl.Int64(),
        "first_ms": pl.Int64(),
        "last_ms": pl.Int64(),
        "interval_ms": pl.Int64(),
        "gaps": pl.Int64(),
        "missing_ms": pl.Int64(),
        "gap_list": pl.List(pl.List(pl.Int64)),
    }
    return pl.DataFrame(rows, schema=schema)


def _series_row(
    name: str, venue: str, canon: str, series_cols: tuple[str, ...], gkey: tuple[object, ...], g: pl.DataFrame
) -> dict[str, object]:
    t = g.get_column("__t").unique().sort()
    label = " ".join(_label(c, v) for c, v in zip(series_cols, gkey, strict=True)) or "-"
    interval = None
    gaps: list[Gap] = []
    if name in SERIES_COLUMNS and "interval_ms" in g.columns:
        step = g.sort("__t").get_column("interval_ms")
        # funding intervals change over time (8h → 4h …): each step is judged by the later row's interval
        interval = int(step.mode().sort()[0]) if name == "funding" else int(step[0])
        gaps = find_gaps(t, step if name == "funding" else None, interval)
    missing = sum(gp.before_ms - gp.after_ms for gp in gaps)
    return {
        "record": name,
        "venue": venue,
        "canonical": canon,
        "series": label,
        "rows": g.height,
        "first_ms": int(t[0]),
        "last_ms": int(t[-1]),
        "interval_ms": interval,
        "gaps": len(gaps),
        "missing_ms": missing,
        "gap_list": [[gp.after_ms, gp.before_ms] for gp in gaps[:MAX_LISTED_GAPS]],
    }


def find_gaps(t: pl.Series, intervals: pl.Series | None, interval_ms: int | None) -> list[Gap]:
    """Gaps in sorted unique instants ``t`` (ms) given a fixed ``interval_ms`` or per-row ``intervals``."""
    if t.len() < 2 or (interval_ms is None and intervals is None) or interval_ms == 0:
        return []
    diffs = t.diff().slice(1)
    if intervals is not None and intervals.len() == t.len():
        expected = intervals.slice(1)
    else:
        expected = pl.Series([interval_ms] * (t.len() - 1), dtype=pl.Int64)
    mask = (diffs > expected + TOLERANCE_MS) & (expected > 0)
    idx = mask.arg_true()
    return [Gap(int(t[i]), int(t[i + 1])) for i in idx]


def _label(col: str, value: object) -> str:
    if col == "interval_ms" and isinstance(value, int):
        return interval_label(value) if value else "snapshot"
    return str(value)
