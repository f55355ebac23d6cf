"""What the store holds per coin and venue, read from Parquet footers, not from the rows.

Each month file's footer gives, per row group, its row count and the min/max of every column. A row
group whose series columns (:data:`~perpscope.store.coverage.SERIES_COLUMNS`) have min = max belongs
to one series; its time column's min/max bound it. That answers "which records, which bar lengths,
from when to when, how many rows" at about 0.1 ms per file, whatever the number of rows.

Gaps are *estimated* here: a row group of a series with interval ``I`` spanning ``first → last``
should hold ``round((last − first) / I) + 1`` rows; fewer means a hole. Consecutive row groups are
checked like consecutive rows (:func:`~perpscope.store.coverage.find_gaps`). Where the footer cannot
say (several series in one row group, an interval that changes, more rows than the span holds —
e.g. sampled funding rates), that file's time and series columns are read and judged exactly —
and so are all the files of a partition whose first month already needs it (the lake sorts a month
by time, so a symbol's 5m and 1h bars share row groups). On the shared store that is 914 of 3,241
files. :func:`~perpscope.store.coverage.coverage_of` lists the gaps themselves.
"""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from perpscope.core.time import interval_label
from perpscope.records import RECORDS
from perpscope.store.coverage import SERIES_COLUMNS, TOLERANCE_MS, scan_series_columns, series_stats
from perpscope.store.lake import Lake
from perpscope.store.location import local_side_dir
from perpscope.store.object_lake import ObjectLake
from perpscope.store.parts import is_part
from perpscope.store.segment_cache import ObjectSegmentCache, SegmentCache
from perpscope.store.selection import Partition, Selection, coin_of, selected_partitions

#: Files read per scan when their footers cannot describe them (small enough to start early).
READ_BATCH = 128


@dataclass(frozen=True, slots=True)
class Segment:
    """Rows of one series in one row group (or one file, when read), in time order.

    ``first_interval`` is the interval (ms) of the first row — the one a step *into* this segment is
    judged by; ``intervals`` every interval seen; ``holes`` whether a step inside is a gap.
    """

    key: tuple[object, ...]
    rows: int
    first_ms: int
    last_ms: int
    first_interval: int | None
    intervals: tuple[int, ...]
    holes: bool


def summary(lake: Lake, selection: Selection | None = None) -> pl.DataFrame:
    """One row per coin and venue, most complete coins first.

    Parameters
    ----------
    lake : Lake
    selection : Selection, optional
        Coins, venues, records, symbols to include (default: all).

    Returns
    -------
    polars.DataFrame
        Columns ``coin, venue, holdings, records, symbols, series, rows, first_ms, last_ms,
        checked_series, gap_series``. ``holdings``: ``"candles 5m·1h"``-style text per record (bar
        lengths sorted; none for event records); ``records`` and ``symbols``: names held;
        ``checked_series``: series with an expected spacing; ``gap_series``: of those, how many have a
        gap (estimated, see the module notes). Instants are int ms UTC. Coins are ranked by records
        held, then rows; a coin's venues likewise. An empty frame when nothing matches.
    """
    parts = selected_partitions(lake, selection)
    if isinstance(lake, ObjectLake):  # parts are immutable: keyed by name, cached on this machine
        cache: SegmentCache = ObjectSegmentCache(local_side_dir(lake.url), lake.url)
        series = _series_of(parts, cache, lake)
    else:
        cache = SegmentCache(lake.root)
        series = _series_of(parts, cache)
    cache.save(complete=selection is None or selection == Selection())
    return _by_coin_venue(series)


def summary_schema() -> dict[str, pl.DataType]:
    return {
        "coin": pl.String(),
        "venue": pl.String(),
        "holdings": pl.List(pl.String()),
        "records": pl.List(pl.String()),
        "symbols": pl.List(pl.String()),
        "series": pl.Int64(),
        "rows": pl.Int64(),
        "first_ms": pl.Int64(),
        "last_ms": pl.Int64(),
        "checked_series": pl.Int64(),
        "gap_series": pl.Int64(),
    }


@dataclass
class _Series:
    record: str
    venue: str
    canonical: str
    key: tuple[object, ...]
    segments: list[Segment]


def _series_of(
    parts: list[Partition], cache: SegmentCache | None = None, objects: ObjectLake | None = None
) -> list[_Series]:
    """Segments of every file of ``parts``, grouped into series.

    Files unchanged since the last call come from ``cache``. Footers are parsed one after another
    (parsing holds the GIL: a thread pool over footers measured slower than one thread on the shared
    store). Files a footer cannot describe are read in batches of :data:`READ_BATCH` (one scan each)
    by a worker thread while the main thread parses the next footers: polars releases the GIL, so
    the two overlap. ``objects``: the object-store lake the files (URLs) are read from.
    """
    opts = objects.storage_options() if objects is not None else None
    found: dict[tuple[int, tuple[object, ...]], list[Segment]] = defaultdict(list)

    def add(i: int, f: str, segs: list[Segment], store: bool) -> None:
        if store and cache is not None:
            cache.put(f, segs)
        for seg in segs:
            found[(i, seg.key)].append(seg)

    uncached: set[str] = set()
    with ThreadPoolExecutor(max_workers=1) as pool:
        reads: list[Future[list[tuple[int, str, list[Segment]]]]] = []
        unread: list[tuple[int, str]] = []
        for i, p in enumerate(parts):
            if unread and (len(unread) >= READ_BATCH or parts[i - 1].record != p.record):
                reads.append(pool.submit(_read_segments, parts[i - 1].record, unread, opts))
                unread = []
            todo = []
            live = _months_with_parts(p.files)
            for f in p.files:
                if live and os.path.basename(f).split(".", 1)[0] in live:
                    # a month with live parts: its rows are the month file's and the parts' with the
                    # newest write of each key winning, which only reading them tells (and not cached:
                    # the next flush changes it)
                    unread.append((i, f))
                    uncached.add(f)
                    continue
                hit = cache.get(f) if cache is not None else None
                if hit is None:
                    todo.append(f)
                else:
                    add(i, f, hit, store=False)
            for n, f in enumerate(todo):
                segs = footer_segments(p.record, f, objects)
                if segs is None and n == 0:
                    # the first month mixes series: the others most likely do too, and reading
                    # their columns costs no more than parsing their footers first
                    unread.extend((i, g) for g in todo)
                    break
                if segs is None:
                    unread.append((i, f))
                else:
                    add(i, f, segs, store=True)
        if unread:
            reads.append(pool.submit(_read_segments, parts[-1].record, unread, opts))
        for fut in reads:
            for i, f, segs in fut.result():
                add(i, f, segs, store=f not in uncached)
    return [
        _Series(parts[i].record, parts[i].venue, parts[i].canonical, key, segs)
        for (i, key), segs in found.items()
    ]


def _months_with_parts(files: tuple[str, ...]) -> set[str]:
    """The ``yyyy-mm`` of the months among ``files`` that have live parts."""
    return {os.path.basename(f).split(".", 1)[0] for f in files if is_part(f)}


def footer_segments(record: str, path: Path | str, objects: ObjectLake | None = None) -> list[Segment] | None:
    """Segments of one month file from its footer alone; ``None`` where the footer cannot say.
    ``objects``: the object-store lake ``path`` (a URL) is in."""
    import pyarrow as pa  # here: a store info answered from the cache never parses a footer
    import pyarrow.parquet as pq

    rt = RECORDS[record]
    series_cols = SERIES_COLUMNS.get(record, ())
    has_interval = record in SERIES_COLUMNS
    opened = objects.open_input(str(path)) if objects is not None else pa.OSFile(str(path))
    with opened as fh:  # OSFile skips pyarrow's filesystem lookup: a tenth of the cost here
        meta = pq.read_metadata(fh)
    names = meta.schema.names
    want = [rt.time_col, *series_cols] + (["interval_ms"] if record == "funding" else [])
    if any(c not in names for c in want):
        return None
    idx = [names.index(c) for c in want]
    per_ms = _units_per_ms(meta.schema.column(idx[0]).logical_type.to_json())
    if per_ms is None:
        return None
    out: list[Segment] = []
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        if rg.num_rows == 0:
            continue
        stats = [rg.column(i).statistics for i in idx]
        if any(st is None or not st.has_min_max for st in stats):
            return None
        # the time column's raw integers: converting them to datetimes costs 100× more
        first, last = stats[0].min_raw // per_ms, stats[0].max_raw // per_ms
        rest = [(st.min, st.max) for st in stats[1:]]
        if any(lo != hi for lo, hi in rest):
            return None  # several series or intervals in one row group
        values = [lo for lo, _ in rest]
        interval = int(values[-1]) if has_interval else None
        holes = False
        if interval:
            expected = round((last - first) / interval) + 1
            if rg.num_rows > expected:
                return None  # off-grid or repeated instants (e.g. sampled funding): judge the rows
            holes = rg.num_rows < expected
        intervals = (interval,) if interval is not None else ()
        key = tuple(values[: len(series_cols)])
        out.append(Segment(key, rg.num_rows, first, last, interval, intervals, holes))
    return out


def _read_segments(
    record: str, files: list[tuple[int, str]], storage_options: dict[str, str] | None = None
) -> list[tuple[int, str, list[Segment]]]:
    """Exact per-file segments (gaps judged as :func:`coverage` judges them) of files read whole:
    ``(partition index, file, segments)`` per file. A month file and its live parts are judged as one
    file (the first of them gets the segments): a part alone would show the month file's rows as holes."""
    series_cols = list(SERIES_COLUMNS.get(record, ()))
    paths = [f for _, f in files]
    first: dict[tuple[int, str, str], int] = {}
    unit = [
        first.setdefault((i, os.path.dirname(f), os.path.basename(f).split(".", 1)[0]), n)
        for n, (i, f) in enumerate(files)
    ]
    owner = pl.DataFrame(
        {"__path": paths, "__file": unit, "__part": [i for i, _ in files]},
        schema={"__path": pl.String, "__file": pl.Int64, "__part": pl.Int64},
    )
    rows = scan_series_columns(record, paths, storage_options).join(owner, on="__path").drop("__path")
    stats = series_stats(rows, record, ["__file", "__part", *series_cols])
    by_file: dict[int, list[Segment]] = {n: [] for n in range(len(files))}
    for r in stats.iter_rows(named=True):
        seg = Segment(
            tuple(r[c] for c in series_cols),
            r["rows"],
            r["first_ms"],
            r["last_ms"],
            r["first_step_ms"],
            tuple(r["steps"]),
            r["gaps"] > 0,
        )
        by_file[r["__file"]].append(seg)
    return [(i, f, by_file[n]) for n, (i, f) in enumerate(files)]


def _units_per_ms(logical_type_json: str) -> int | None:
    """Raw time-column units per millisecond from a Parquet logical type (plain integers are ms)."""
    if '"Timestamp"' not in logical_type_json:
        return 1 if '"Int"' in logical_type_json or logical_type_json == '{"Type":"None"}' else None
    for unit, per_ms in (('"milliseconds"', 1), ('"microseconds"', 1_000), ('"nanoseconds"', 1_000_000)):
        if unit in logical_type_json:
            return per_ms
    return None


def _has_gap(segments: list[Segment]) -> bool:
    segs = sorted(segments, key=lambda s: (s.first_ms, s.last_ms))
    if any(s.holes for s in segs):
        return True
    for prev, nxt in itertools.pairwise(segs):
        step = nxt.first_interval
        if step and nxt.first_ms - prev.last_ms > step + TOLERANCE_MS:
            return True
    return False


@dataclass
class _CoinVenue:
    symbols: set[str]
    intervals: dict[str, set[int]]  # record → intervals seen
    series: int = 0
    rows: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    checked: int = 0
    gaps: int = 0

    def add(self, s: _Series) -> None:
        self.symbols.add(s.canonical)
        self.series += 1
        self.rows += sum(g.rows for g in s.segments)
        first = min(g.first_ms for g in s.segments)
        last = max(g.last_ms for g in s.segments)
        self.first_ms = first if self.first_ms is None else min(first, self.first_ms)
        self.last_ms = last if self.last_ms is None else max(last, self.last_ms)
        ivs = self.intervals.setdefault(s.record, set())
        for g in s.segments:
            ivs.update(g.intervals)
        if s.record in SERIES_COLUMNS and any(g.first_interval for g in s.segments):
            self.checked += 1
            self.gaps += int(_has_gap(s.segments))


def _by_coin_venue(series: Iterable[_Series]) -> pl.DataFrame:
    acc: dict[tuple[str, str], _CoinVenue] = {}
    for s in series:
        acc.setdefault((coin_of(s.canonical), s.venue), _CoinVenue(set(), {})).add(s)
    rows = []
    for (coin, venue), a in acc.items():
        held = [r for r in RECORDS if r in a.intervals]
        rows.append(
            {
                "coin": coin,
                "venue": venue,
                "holdings": [_holding(r, a.intervals[r]) for r in held],
                "records": held,
                "symbols": sorted(a.symbols),
                "series": a.series,
                "rows": a.rows,
                "first_ms": a.first_ms,
                "last_ms": a.last_ms,
                "checked_series": a.checked,
                "gap_series": a.gaps,
            }
        )
    return rank(pl.DataFrame(rows, schema=summary_schema()))


def _holding(record: str, intervals: set[int]) -> str:
    labels = [interval_label(i) if i else "snapshot" for i in sorted(intervals)]
    return " ".join([record, "·".join(labels)]) if labels else record


def rank(df: pl.DataFrame) -> pl.DataFrame:
    """Coins with the most records (then rows) first; within a coin, venues likewise."""
    if df.is_empty():
        return df
    coin = df.group_by("coin").agg(
        pl.col("records").explode().n_unique().alias("__coin_records"),
        pl.col("rows").sum().alias("__coin_rows"),
    )
    return (
        df.join(coin, on="coin")
        .with_columns(pl.col("records").list.len().alias("__n"))
        .sort(
            ["__coin_records", "__coin_rows", "coin", "__n", "rows", "venue"],
            descending=[True, True, False, True, True, False],
        )
        .drop("__coin_records", "__coin_rows", "__n")
    )
