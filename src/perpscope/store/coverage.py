"""Coverage: what the store holds per record, venue, symbol and series, from when to when, with gaps.

A *series* is the set of rows that should be evenly spaced: one interval of one price type for
candles, one ratio kind for long/short ratios, and so on. Gaps are reported where consecutive rows of
a series are further apart than the series' interval (``interval_ms``). Event records (trades,
liquidations) and irregular snapshots have no expected spacing and report no gaps.

:func:`coverage` reads every partition of the lake; :func:`coverage_of` answers the same question
for a :class:`~perpscope.store.selection.Selection` (one coin, venue, record …) in one scan per
record, and lists the distinct ``source`` values of files that carry that column.
:mod:`perpscope.store.summary` answers the coarser per-coin question from file footers alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from perpscope.core.time import interval_label
from perpscope.records import DEFAULT_SOURCE, RECORDS
from perpscope.store.lake import Lake
from perpscope.store.live_virtual import is_virtual, virtual_parts, virtual_rows
from perpscope.store.parts import newest_rows, split_parts
from perpscope.store.selection import Selection, selected_partitions

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


def coverage_schema() -> dict[str, pl.DataType]:
    """Columns of :func:`coverage` (and, with ``sources`` added, of :func:`coverage_of`)."""
    return {
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
        series_cols = SERIES_COLUMNS.get(name, ())
        live = virtual_parts(lake, name)  # months with rows in the live log, as virtual parts
        for venue, canon in lake.partitions(name):  # with the log's
            files = [lake.uri(f) for f in lake.month_files(name, venue, canon)]
            files = sorted(files + live.get((venue, canon), []))
            df = scan_series_columns(name, files, lake.storage_options())
            groups = df.partition_by(list(series_cols), as_dict=True) if series_cols else {(): df}
            for gkey, g in sorted(groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
                rows.append(_series_row(name, venue, canon, series_cols, gkey, g))
    return pl.DataFrame(rows, schema=coverage_schema())


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


def coverage_of(lake: Lake, selection: Selection | None = None) -> pl.DataFrame:
    """:func:`coverage` for the selected partitions, plus the distinct ``source`` of their rows.

    Same rows and values as :func:`coverage` filtered to the selection; series are ordered by value
    (``trade 5m`` before ``trade 1h``) rather than by text. Each record's files are read in one scan
    (time, series and interval columns only) and the gaps found in one pass over all its series.

    Returns
    -------
    polars.DataFrame
        The columns of :func:`coverage` and ``sources`` (list of str; empty where files carry no
        ``source`` column).
    """
    schema = {**coverage_schema(), "sources": pl.List(pl.String())}
    parts = selected_partitions(lake, selection)
    frames = []
    for record in dict.fromkeys(p.record for p in parts):
        mine = [p for p in parts if p.record == record]
        files = pl.DataFrame(
            {
                "__path": [f for p in mine for f in p.files],
                "venue": [p.venue for p in mine for _ in p.files],
                "canonical": [p.canonical for p in mine for _ in p.files],
            }
        )
        series_cols = list(SERIES_COLUMNS.get(record, ()))
        rows = (
            scan_series_columns(record, files.get_column("__path").to_list(), lake.storage_options())
            .join(files, on="__path")
            .drop("__path")
        )
        stats = series_stats(rows, record, ["venue", "canonical", *series_cols]).sort(
            ["venue", "canonical", *series_cols]
        )
        labels = (
            [
                " ".join(_label(c, v) for c, v in zip(series_cols, vals, strict=True))
                for vals in stats.select(series_cols).iter_rows()
            ]
            if series_cols
            else ["-"] * stats.height
        )
        frames.append(
            stats.with_columns(pl.lit(record).alias("record"), pl.Series("series", labels, dtype=pl.String))
            .drop(series_cols)
            .rename({"step_ms": "interval_ms"})
            .select(list(schema))
            .cast(schema)  # type: ignore[arg-type]
        )
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def scan_series_columns(
    record: str, paths: list[str], storage_options: dict[str, str] | None = None
) -> pl.DataFrame:
    """Time (as ``__t``, int ms), series, interval and source columns of ``paths``; files without a
    ``source`` column give nulls there. ``storage_options``: polars' options for object-store URLs.
    Where ``paths`` hold live parts (:mod:`perpscope.store.parts`), the key columns too, and the rows a
    newer write replaced are left out."""
    rt = RECORDS[record]
    cols = list(dict.fromkeys([rt.time_col, *SERIES_COLUMNS.get(record, ())]))
    if record in SERIES_COLUMNS and "interval_ms" in rt.polars_schema:
        cols.append("interval_ms")
    base, parts = split_parts(paths)
    virtual = [p for p in parts if is_virtual(p)]  # a month's live log rows (no file)
    parts = [p for p in parts if not is_virtual(p)]
    if parts or virtual:  # live parts: the key decides which rows survive (the newest write of each)
        cols += [k for k in rt.key if k not in cols]
    cols = list(dict.fromkeys(cols))
    schema = {c: rt.polars_schema[c] for c in cols} | {"source": pl.String()}

    def scan(files: list[str]) -> pl.LazyFrame:
        return pl.scan_parquet(
            files,
            schema=schema,
            missing_columns="insert",
            extra_columns="ignore",
            include_file_paths="__path",
            hive_partitioning=False,
            storage_options=storage_options,
        )

    if parts or virtual:
        newer = scan(parts)
        if virtual:  # the log's rows are newer than every part
            logged = virtual_rows(record, virtual).select([*schema, "__path"]).lazy()
            newer = pl.concat([newer, logged], how="vertical")
        lf = newest_rows(scan(base), newer, rt.key).select([*schema, "__path"])
    else:
        lf = scan(paths)
    return lf.with_columns(pl.col(rt.time_col).dt.epoch("ms").alias("__t")).drop(rt.time_col).collect()


def series_stats(rows: pl.DataFrame, record: str, keys: list[str]) -> pl.DataFrame:
    """Per group of ``keys``: rows, range, interval and gaps, judged as :func:`coverage` judges them.

    Parameters
    ----------
    rows : polars.DataFrame
        ``keys``, ``__t`` (int ms), and ``interval_ms`` and ``source`` when the record has them.
    record : str
        The record's name (funding's interval may change from row to row).
    keys : list of str
        Columns naming a series (and any finer split, e.g. a file).

    Returns
    -------
    polars.DataFrame
        ``keys`` and ``rows, first_ms, last_ms, step_ms`` (the series' interval as :func:`coverage`
        reports it; null for records without one), ``first_step_ms`` (interval of the first row),
        ``steps`` (every interval seen), ``gaps, missing_ms, gap_list, sources``.
    """
    has_iv = record in SERIES_COLUMNS and "interval_ms" in rows.columns
    funding = record == "funding"
    # one sort; a row's predecessor is the previous row unless the keys change there
    rows = rows.sort([*keys, "__t"])
    prev = pl.col("__t").shift(1)
    if keys:
        new_group = pl.any_horizontal([pl.col(k).ne_missing(pl.col(k).shift(1)) for k in keys])
        prev = pl.when(new_group).then(None).otherwise(prev)
    rows = rows.with_columns(prev.alias("__prev"))
    iv = pl.col("interval_ms")
    aggs = [
        pl.len().cast(pl.Int64).alias("rows"),
        pl.col("__t").first().alias("first_ms"),
        pl.col("__t").last().alias("last_ms"),
        (pl.len() - (pl.col("__t") == pl.col("__prev")).sum()).cast(pl.Int64).alias("__unique"),
    ]
    if has_iv:
        aggs += [
            (iv.mode().min() if funding else iv.first()).alias("step_ms"),
            iv.first().alias("first_step_ms"),
            iv.unique().sort().alias("steps"),
        ]
    else:
        aggs += [
            pl.lit(None, pl.Int64).alias("step_ms"),
            pl.lit(None, pl.Int64).alias("first_step_ms"),
            pl.lit([], pl.List(pl.Int64)).alias("steps"),
        ]
    if "source" in rows.columns:
        # files written before the column existed hold rows of source "user" (as readers see them)
        aggs.append(pl.col("source").fill_null(DEFAULT_SOURCE).unique().sort().alias("sources"))
    else:
        aggs.append(pl.lit([], pl.List(pl.String)).alias("sources"))
    stats = rows.group_by(keys, maintain_order=True).agg(aggs)
    empty = stats.drop("__unique").with_columns(
        pl.lit(0, pl.Int64).alias("gaps"),
        pl.lit(0, pl.Int64).alias("missing_ms"),
        pl.lit([], pl.List(pl.List(pl.Int64))).alias("gap_list"),
    )
    if not has_iv:
        return empty
    steps = rows.select(*dict.fromkeys([*keys, "__t", "__prev", "interval_ms"]))
    if funding:
        # each step is judged by the later row's interval when no instant repeats (as find_gaps does),
        # else by the series' most common interval
        group = stats.select(*keys, (pl.col("__unique") == pl.col("rows")).alias("__per_row"), "step_ms")
        steps = (
            steps.join(group, on=keys, nulls_equal=True, maintain_order="left")
            if keys
            else steps.with_columns(
                pl.lit(group.item(0, "__per_row")).alias("__per_row"),
                pl.lit(group.item(0, "step_ms")).alias("step_ms"),
            )
        )
        expected = pl.when("__per_row").then(iv).otherwise(pl.col("step_ms"))
        judged = pl.col("step_ms")
    else:
        expected = judged = iv  # constant within a series: interval_ms is one of its keys
    gaps = (
        steps.filter(
            (pl.col("__t") - pl.col("__prev") > expected + TOLERANCE_MS) & (expected > 0) & (judged != 0)
        )
        .group_by(keys, maintain_order=True)
        .agg(
            pl.len().cast(pl.Int64).alias("gaps"),
            (pl.col("__t") - pl.col("__prev")).sum().alias("missing_ms"),
            pl.concat_list("__prev", "__t").head(MAX_LISTED_GAPS).alias("gap_list"),
        )
    )
    if gaps.is_empty():
        return empty
    return (
        stats.drop("__unique")
        .join(gaps, on=keys, how="left", nulls_equal=True, maintain_order="left")
        .with_columns(
            pl.col("gaps").fill_null(0),
            pl.col("missing_ms").fill_null(0),
            pl.col("gap_list").fill_null(pl.lit([], pl.List(pl.List(pl.Int64)))),
        )
    )
