"""A month's committed live-log rows as a virtual part, for readers that work on lists of files.

Coverage (:mod:`perpscope.store.coverage`) and the store summary (:mod:`perpscope.store.summary`) judge
a month from the files listed for it (:func:`perpscope.store.selection.selected_partitions`). The rows
of the collector's write-ahead log (:mod:`perpscope.store.live_log`) have no such file: each month that
has some is listed as one more part path, the newest, that :func:`virtual_rows` reads from the log.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from perpscope.records import RECORDS, RecordType
from perpscope.store.lake import Lake
from perpscope.store.live_log import live_rows

#: Names a month's committed log rows as if they were one more part of it, the newest: a path
#: ``…/venue=<v>/symbol=<c>/<yyyy-mm>.part-~live.parquet`` (``~`` sorts after every part's sequence
#: number). No such file exists: :func:`virtual_rows` reads its rows from the log. Coverage and the
#: store summary list these beside the partition's files, so they judge the month with its log rows.
VIRTUAL_PART = ".part-~live.parquet"


def is_virtual(path: str | Path) -> bool:
    """True for a virtual log part's path (see :data:`VIRTUAL_PART`)."""
    return str(path).endswith(VIRTUAL_PART)


def virtual_parts(lake: Lake, record: RecordType | str) -> dict[tuple[str, str], list[str]]:
    """(venue, canonical) → the virtual part paths of the months that have committed log rows."""
    df = live_rows(lake, record)
    if df is None:
        return {}
    rt = RECORDS[record] if isinstance(record, str) else record
    months = (
        df.select("venue", "canonical", pl.col(rt.time_col).dt.strftime("%Y-%m").alias("m"))
        .unique()
        .sort(["venue", "canonical", "m"])
    )
    out: dict[tuple[str, str], list[str]] = {}
    for v, c, m in months.iter_rows():
        out.setdefault((v, c), []).append(str(lake.partition_dir(rt, v, c) / f"{m}{VIRTUAL_PART}"))
    return out


def virtual_rows(record: RecordType | str, paths: list[str]) -> pl.DataFrame:
    """The committed log rows the virtual part ``paths`` stand for, with their path as ``__path`` (in
    write order; the store's root is read from the paths)."""
    rt = RECORDS[record] if isinstance(record, str) else record
    empty = rt.empty().with_columns(pl.lit(None, pl.String).alias("__path"))
    if not paths:
        return empty
    root = Path(paths[0]).parents[3]
    df = live_rows(Lake(root), rt)
    if df is None:
        return empty
    first = Path(paths[0])
    tagged = df.with_columns(
        pl.concat_str(
            pl.lit(str(first.parents[2]) + "/venue="),
            pl.col("venue"),
            pl.lit("/symbol="),
            pl.col("canonical"),
            pl.lit("/"),
            pl.col(rt.time_col).dt.strftime("%Y-%m"),
            pl.lit(VIRTUAL_PART),
        ).alias("__path")
    )
    return tagged.filter(pl.col("__path").is_in(paths))


__all__ = ["VIRTUAL_PART", "is_virtual", "virtual_parts", "virtual_rows"]
