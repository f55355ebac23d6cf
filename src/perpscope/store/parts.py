"""The lake's append-only write path: live flushes as small immutable part files, folded by compaction.

:meth:`Lake.write <perpscope.store.lake.Lake.write>` merges new rows into a month file by reading and
rewriting the whole file — right for an import, ruinous for a live collector flushing every few
milliseconds (a month of trades rewritten per flush). :func:`append` instead writes rows as one new,
uniquely named **part** per partition and month, beside the month file (the live collector commits its
flushes to a write-ahead log, :mod:`perpscope.store.live_log`, and writes parts when it seals a log
segment; ``LiveConfig(write_path="parts")`` writes each flush as parts)::

    <record>/venue=<v>/symbol=<canonical>/2026-03.parquet                         the month file
    <record>/venue=<v>/symbol=<canonical>/2026-03.part-<seq>-<pid>-<rand>.parquet  parts, oldest first

``seq`` is the write's wall-clock time in ns (zero-padded, never repeating within a process, and taken
under the store's writer lock, so writers follow one another), so a folder listing sorts the month file
first, then its parts in write order. A part is written to a temporary name, fsynced, then renamed:
whole or absent (``kill -9`` or a power loss leaves at most a temporary, which the next writer sweeps).

**Reading** (:func:`newest_rows`): a month's rows are its month file's rows and its parts' rows with
the store's usual rule — one row per natural key, the newest write winning — so a reader sees exactly
what one :meth:`Lake.write` of the same rows in the same order would have stored. Readers pay for it
only while parts exist.

**Compaction** (:func:`compact`) folds a month's parts into its month file with the writer's own merge
(:func:`~perpscope.store.lake.merge_month`). The merge runs *without* the writer lock (parts are
immutable), so live flushes keep landing meanwhile; only the commit takes the lock, checks that none of
its inputs changed, and swaps the new month file in and the folded parts out through one commit record
(:mod:`perpscope.store.commit`): a crash leaves the old month file and its parts, or the new one. Parts
written after the merge began are newer than the new month file and stay beside it. It runs when a
month holds :data:`COMPACT_PARTS` parts (the collector, in a worker thread: into one part until the
parts hold 1/:data:`MONTH_SHARE` of the month file's bytes, so a busy month is not rewritten every
few hundred flushes), on ``perpscope store compact``, and before an import writes into that month
(:meth:`Transaction.write <perpscope.store.lake.Transaction.write>`).

A record whose key holds no time (a trade id) is deduplicated within a month across file and parts; a
trade re-stamped into another month by a later write is removed from its old month when that month
is next written by :meth:`Lake.write` (as today), not by a live append.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import polars as pl

from perpscope.records import RECORDS, RecordType
from perpscope.store import commit
from perpscope.store.lake import Lake, WriteResult, _split_by_month, _stage_file, merge_month, prepared

#: Marks a part's name: ``<yyyy-mm>.part-<seq>-<pid>-<rand>.parquet``.
PART_MARK = ".part-"
#: Parts of one month that trigger its compaction by the live collector (readers slow down with many
#: small files; folding them rewrites the month file, so not too often either).
COMPACT_PARTS = 256
#: Part files written at once by one append (their fsyncs overlap).
PART_WRITERS = 8
#: Parts folded by the collector go into the month file once they hold this share of its bytes (1/8);
#: before that, into one part (the month file is not rewritten).
MONTH_SHARE = 8
#: Commits of one fold retried when its inputs changed under it (an import rewrote the month file).
FOLD_ATTEMPTS = 3

P = TypeVar("P", str, Path)
_seq_lock = threading.Lock()
_last_seq = 0


def is_part(name: str | Path) -> bool:
    """True for a part file's name (or path), False for a month file."""
    return PART_MARK in (name.name if isinstance(name, Path) else os.path.basename(name))


def month_of_part(path: Path) -> Path:
    """The month file a part belongs to: ``…/2026-03.part-….parquet`` → ``…/2026-03.parquet``."""
    return path.with_name(path.name.split(PART_MARK, 1)[0] + ".parquet")


def _next_seq() -> int:
    """Wall-clock ns, strictly increasing within the process (two flushes in one ns stay ordered)."""
    global _last_seq
    with _seq_lock:
        _last_seq = max(time.time_ns(), _last_seq + 1)
        return _last_seq


def part_path(month_file: Path) -> Path:
    """A new part's path for ``month_file`` (``…/2026-03.parquet``), named after now."""
    month = month_file.name.split(".", 1)[0]
    return month_file.with_name(
        f"{month}{PART_MARK}{_next_seq():020d}-{os.getpid()}-{uuid.uuid4().hex[:6]}.parquet"
    )


def parts_by_month(directory: Path) -> dict[Path, list[Path]]:
    """A partition folder's parts grouped by their month file, each list oldest first."""
    out: dict[Path, list[Path]] = defaultdict(list)
    try:
        entries = sorted(e.name for e in os.scandir(directory) if PART_MARK in e.name and e.name[0] != ".")
    except FileNotFoundError:
        return {}
    for name in entries:
        if name.endswith(".parquet"):
            p = directory / name
            out[month_of_part(p)].append(p)
    return dict(out)


def append(
    lake: Lake, record: RecordType, frame: pl.DataFrame, *, source: str | None = None, fsync: bool = True
) -> WriteResult:
    """Write ``frame``'s rows as one new part per partition and month; return what was written.

    Rows are conformed and stamped as :meth:`Lake.write` stamps them; nothing is merged with stored
    rows (readers and :func:`compact` do that), so the cost is that of writing the new rows alone.
    ``rows_added`` counts the rows offered (duplicates of stored rows are only found by a read).

    Parameters
    ----------
    fsync : bool
        Flush each part to the disk before it is renamed into place, and its folder after (durable
        across a power loss). Without it a part is still whole or absent after ``kill -9`` (the page
        cache outlives the process), but a power loss may lose the last parts or leave a torn one.

    Raises
    ------
    StoreError
        When the frame does not conform to the record (nothing is written then).
    """
    df = prepared(record, frame, source)
    if df.is_empty():
        return WriteResult(record.name, 0, 0)
    jobs = [
        (lake.partition_dir(record, venue, canonical) / f"{mkey}.parquet", rows)
        for venue, canonical, mkey, rows in _split_by_month(df, record.time_col)
    ]
    with lake._locked():
        lake._recover_locked()

        def put(job: tuple[Path, pl.DataFrame]) -> Path:
            final = part_path(job[0])  # named under the lock: a later writer's parts sort after ours
            tmp = _stage_file(job[1], final, fsync=fsync)
            os.replace(tmp, final)
            if fsync:
                commit.fsync_dir(final.parent)  # the rename itself durable
            return final

        # a flush of the all-market liquidation stream touches hundreds of partitions: their writes and
        # fsyncs (which wait on the disk with the GIL released, and which the journal batches) overlap
        written = [put(jobs[0])] if len(jobs) == 1 else list(_pool().map(put, jobs))
    return WriteResult(record.name, df.height, df.height, tuple(written))


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    """The part writers' threads (kept: starting eight threads per flush cost more than small parts)."""
    global _POOL
    with _seq_lock:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=PART_WRITERS, thread_name_prefix="parts")
        return _POOL


def newest_rows(base: pl.LazyFrame, parts: pl.LazyFrame, key: Sequence[str]) -> pl.LazyFrame:
    """Month-file rows ``base`` and part rows ``parts`` (scanned oldest part first) as one frame with
    one row per ``key``, the newest write winning — what :meth:`Lake.write` would have stored.

    Month files never repeat a key, so only the parts need deduplicating; the month files' rows whose
    key a part holds are dropped by an anti-join on the (small) parts' keys, not a sort of the month.
    """
    k = list(key)
    newest = parts.unique(subset=k, keep="last", maintain_order=True)
    kept = base.join(newest.select(k), on=k, how="anti", nulls_equal=True)
    return pl.concat([kept, newest], how="vertical")


@dataclass(frozen=True)
class CompactResult:
    """What :func:`compact` did: months folded, parts removed, rows in the new month files."""

    months: int = 0
    parts: int = 0
    rows: int = 0

    def plus(self, other: CompactResult) -> CompactResult:
        return CompactResult(self.months + other.months, self.parts + other.parts, self.rows + other.rows)


def compact(
    lake: Lake,
    records: Iterable[str] | None = None,
    *,
    min_parts: int = 1,
    months: Iterable[Path] = (),
    into_month: bool = True,
) -> CompactResult:
    """Fold parts: every month of ``records`` (default all) holding at least ``min_parts`` parts, or
    only ``months`` (month-file paths) when given. ``into_month``: into the month file (always, as
    ``perpscope store compact`` does); else as :func:`fold` decides (the collector's way)."""
    wanted = list(months)
    if not wanted:
        for name in records if records is not None else lake.records_present():
            for d in sorted(lake.record_dir(name).glob("venue=*/symbol=*")):
                wanted += [m for m, ps in parts_by_month(d).items() if len(ps) >= min_parts]
    done = CompactResult()
    for month_file in sorted(wanted):
        done = done.plus(fold(lake, month_file, into_month=into_month))
    return done


def fold(lake: Lake, month_file: Path, *, into_month: bool = True) -> CompactResult:
    """Fold the parts of one month file (see the module notes); nothing when it has none.

    Into the month file when ``into_month`` or when the parts hold at least :data:`MONTH_SHARE` of its
    bytes; else into **one part** standing where the newest folded part stood (named after it, so the
    parts written after the listing still sort after it). A busy month (tens of millions of trades) is
    thus not rewritten every few hundred flushes: its parts are merged among themselves, and the month
    file only when they have grown to a fair share of it.
    """
    record = RECORDS[month_file.relative_to(lake.root).parts[0]]
    for _ in range(FOLD_ATTEMPTS):
        parts = parts_by_month(month_file.parent).get(month_file, [])
        if not parts:
            return CompactResult()
        inputs = [month_file, *parts]
        before = [_stamp(p) for p in inputs]
        into = into_month or _size(month_file) * MONTH_SHARE <= sum(_size(p) for p in parts)
        if into:
            target = month_file
            old = pl.read_parquet(month_file) if month_file.exists() else None
            merged = merged_month(record, old, parts)
        else:
            newest = parts[-1].name.split(PART_MARK, 1)[1].split("-", 1)[0]  # its seq
            target = month_file.with_name(
                f"{month_file.stem}{PART_MARK}{newest}-{os.getpid()}-{uuid.uuid4().hex[:6]}.parquet"
            )
            merged = merged_month(record, None, parts)
        tmp = _stage_file(merged, target) if merged is not None else None
        with lake._locked():
            lake._recover_locked()
            # an import rewrote the month, or a sweep took our temporary: merge again on what is there
            if [_stamp(p) for p in inputs] != before or (tmp is not None and not tmp.exists()):
                if tmp is not None:
                    tmp.unlink(missing_ok=True)
                continue
            commit.apply(lake.root, {target: tmp} if tmp is not None else {}, parts)
        return CompactResult(1, len(parts), 0 if merged is None else merged.height)
    return CompactResult()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def merged_month(record: RecordType, old: pl.DataFrame | None, parts: Sequence[Path]) -> pl.DataFrame | None:
    """A month file's rows ``old`` with ``parts`` (oldest first) merged in, newest write winning; None
    when the parts add nothing to them."""
    new = pl.concat([record.conform(pl.read_parquet(p)) for p in parts], how="vertical")
    return merge_month(record, old, new)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def split_parts(paths: Iterable[P]) -> tuple[list[P], list[P]]:
    """``paths`` as (month files, parts), each in the given order."""
    base: list[P] = []
    parts: list[P] = []
    for p in paths:
        (parts if is_part(p) else base).append(p)
    return base, parts


__all__ = [
    "COMPACT_PARTS",
    "PART_MARK",
    "CompactResult",
    "append",
    "compact",
    "fold",
    "is_part",
    "merged_month",
    "newest_rows",
    "part_path",
    "parts_by_month",
    "split_parts",
]
