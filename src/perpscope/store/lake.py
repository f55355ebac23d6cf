"""The Parquet lake: ``<root>/<record>/venue=<v>/symbol=<canonical>/<yyyy-mm>.parquet``.

Writes are idempotent (rows are deduplicated on each record's natural key, the newest write winning,
so re-importing a file adds nothing and a revised value replaces the old one) and atomic: each new
month file is staged as a fsynced temporary beside the old one, and all month files of one
:meth:`Lake.transaction` (every file one :meth:`Lake.write` touches; every file of an imported batch)
become visible together through one commit record (:mod:`perpscope.store.commit`), so a reader or a
crash sees the old files or the new ones, never a torn file or half a commit. Temporary files that a
crashed writer left are deleted by the next writer. A record whose key does not hold its time (a
trade id) is kept once per partition, not once per month file. One writer at a time holds an
exclusive lock on ``<root>/.lock``; readers need no lock (a reader that finds an unfinished commit
waits for it to finish, or finishes it after a crash).

The partition folder is named ``symbol=<canonical>`` (``BTC-USDT-PERP``): Binance spells its spot and
perpetual ``BTCUSDT`` alike, so the venue's symbol alone cannot tell their files apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from perpscope.core.errors import StoreError
from perpscope.core.series_order import NEVER_FALLS, RISES, rise
from perpscope.core.time import month_key, month_start_ms, next_month_ms
from perpscope.records import RECORDS, RecordType
from perpscope.records.validate import SAFE_NAME
from perpscope.store import commit
from perpscope.store.commit import RecoveryReport
from perpscope.store.parquet_stitch import Split, split, stitch

if TYPE_CHECKING:
    from perpscope.store.parts import CompactResult

#: Rows per Parquet row group: small enough for range pruning, large enough for fast scans.
ROW_GROUP_ROWS = 256 * 1024
#: zstd level 1: within 10% of level 3's size at about half the write time (measured on 1.6 M candles).
ZSTD_LEVEL = 1
#: zstd level of a float column written without a dictionary (candle prices and volumes, whose values
#: hardly repeat): their plain doubles were most of a candle month's zstd time. A month of Binance's
#: 1-hour BTCUSDT bars (44,640 of them, as many rows as a month of 1-minute bars) written by pyarrow:
#: level 1 12.7 ms, 1.857 MB, read back by polars in 4.4 ms; level −1 11.4 ms, 1.844 MB, 3.3 ms (−3:
#: 10.4 ms, 2.229 MB, 3.1 ms; polars' writer 15.4 ms, 2.395 MB, 4.1 ms). The import benchmark's
#: synthetic random-walk bars: level 1 12.2 → 11.8 ms, 1.543 → 1.594 MB, read 4.1 → 3.4–3.6 ms.
#: BYTE_STREAM_SPLIT on these columns wrote faster still (8.8 ms, 2.035 MB) but read back in 6.3 ms.
FLOAT_ZSTD_LEVEL = -1
#: Listings retried when a commit ran while the folder was listed (each retry waits for the commit).
_LIST_ATTEMPTS = 5
#: Rows from which a merge first checks whether they are already in key order (then it skips the sort):
#: below it the check's fixed cost (~1 ms of query planning) exceeds the sort it saves; a store of
#: many small month files (the shared data: ~5,000) paid 17% of its import for the check.
IN_ORDER_CHECK_ROWS = 20_000
#: Rows from which a merge first checks whether rows rise column by column in place
#: (:func:`_rises_in_order`) before comparing them as tuples: its fixed cost (a few series per column)
#: exceeds the copies it saves below ~100 k rows (trades: 50 k 0.38 -> 0.48 ms, 100 k 0.39 both,
#: 250 k 0.84 -> 0.46 ms, 2 M 12.5 -> 6.2 ms).
RISES_IN_PLACE_ROWS = 100_000
#: Rows from which a month file is written by pyarrow with chosen encodings (see :func:`write_parquet`).
#: CPU per file, Binance's real 1-hour BTCUSDT bars, polars against pyarrow (floats without a dictionary
#: at :data:`FLOAT_ZSTD_LEVEL`): 5 k rows 2.4 / 3.1 ms, 10 k 4.4 / 4.7, 15 k 6.5 / 6.0, 20 k 7.7 / 6.9,
#: 44,640 (a month of 1-minute bars) 15.3 / 13.8 ms and 2.40 / 1.84 MB; below ~12 k rows pyarrow's fixed
#: cost per file (~1.3 ms against ~0.65) wins, and the shared data's thousands of small month files keep
#: polars' writer.
PYARROW_FROM_ROWS = 16_000
#: Largest dictionary page of a column chunk before pyarrow falls back to plain values (see
#: :func:`write_parquet`): measured on 1 M trades and 1 M candles, 64 KiB against the default 1 MiB.
DICTIONARY_PAGE_BYTES = 64 << 10
#: Rows pyarrow encodes at a time within a column chunk (its default: 1,024). Each batch has a fixed
#: cost, largest in a dictionary column's statistics (the batch's distinct indices are found, then their
#: values compared): two million trades' five one-valued text columns and ``taker_side`` took 14.6 ms
#: each at 1,024 rows a batch and 10.8 ms at 64 k, the whole file 209 -> 176 ms (with int8 indices; 234
#: with int32 at 1,024). Data pages are cut after a batch, so one may exceed pyarrow's 1 MB target by up
#: to a batch; the rows, their order and every row group's statistics are the same.
WRITE_BATCH_ROWS = 64 * 1024
#: Leading values of a float column looked at to decide whether it gets a dictionary (see
#: :func:`_dictionary_columns`).
DICTIONARY_SAMPLE_ROWS = 1024
#: Rows from which a frame of one partition is fed to :class:`MonthEncoder` (see :func:`encode_ahead`):
#: a day of a busy symbol's trades or of 1-second bars, not a month of 1-minute bars (44,640 rows, a
#: month file far below a row group: feeding the benchmark's 36 such files cost ~3% of its CPU).
ENCODE_AHEAD_MIN_ROWS = 64 * 1024
#: Threads encoding the row groups of month files encoded ahead (:class:`MonthEncoder`): pyarrow
#: releases the GIL while it encodes, so two use both cores when the last files' rows arrive.
ENCODE_WORKERS = max(1, min(2, os.cpu_count() or 1))
#: Month files merged at once; polars releases the GIL while sorting and writing.
WRITE_WORKERS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class WriteResult:
    """What one :meth:`Lake.write` did: rows offered, rows new to the store, month files touched."""

    record: str
    rows_in: int
    rows_added: int
    files: tuple[Path, ...] = field(default=())


def _check_part(value: str, what: str) -> str:
    if not SAFE_NAME.match(value):
        raise StoreError(f"{what} {value!r} cannot name a store folder (letters, digits, . _ + - only)")
    return value


class Lake:
    """A Parquet lake rooted at ``root`` (created on first write).

    Parameters
    ----------
    root : Path
        The data directory.
    """

    #: Whether a :class:`Transaction` takes month files encoded ahead (:class:`MonthEncoder`).
    encodes_ahead: ClassVar[bool] = True

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._swept = False  # temporaries of crashed writers deleted (once per Lake, on first write)

    # -- layout ------------------------------------------------------------------------------------
    def record_dir(self, record: RecordType | str) -> Path:
        name = record if isinstance(record, str) else record.name
        return self.root / name

    def partition_dir(self, record: RecordType | str, venue: str, canonical: str) -> Path:
        return (
            self.record_dir(record)
            / f"venue={_check_part(venue, 'venue')}"
            / f"symbol={_check_part(canonical, 'symbol')}"
        )

    def month_files(
        self, record: RecordType | str, venue: str | None = None, canonical: str | None = None
    ) -> list[Path]:
        """Month files of a record, optionally for one venue and/or canonical symbol, sorted.

        Never a listing taken while a commit was renaming its files: a commit's record is created and
        deleted in the store's root, which changes the root's mtime, so a listing during which the
        root changed is taken again (after waiting for the commit to finish).
        """
        base = self.record_dir(record)
        v = f"venue={venue}" if venue else "venue=*"
        s = f"symbol={canonical}" if canonical else "symbol=*"
        files: list[Path] = []
        for _ in range(_LIST_ATTEMPTS):
            before = self._root_stamp()
            self._pending_commit()
            files = sorted(base.glob(f"{v}/{s}/*.parquet"))
            if self._root_stamp() == before and not commit.pending(self.root):
                break
        return files

    def _root_stamp(self) -> int | None:
        try:
            return self.root.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def partitions(self, record: RecordType | str) -> list[tuple[str, str]]:
        """(venue, canonical) pairs that have files for ``record``, or rows in its live log
        (:mod:`perpscope.store.live_log`)."""
        from perpscope.store.live_log import live_partitions

        live = live_partitions(self, record)  # before the listing: a seal meanwhile moves rows into files
        self._pending_commit()
        out = []
        for d in sorted(self.record_dir(record).glob("venue=*/symbol=*")):
            if any(d.glob("*.parquet")):
                out.append((d.parent.name.split("=", 1)[1], d.name.split("=", 1)[1]))
        return sorted(set(out) | set(live)) if live else out

    def records_present(self) -> list[str]:
        return [name for name in RECORDS if self.record_dir(name).is_dir()]

    def uri(self, path: Path) -> str:
        """What a reader opens for a month file (for the object-store lake, its URL)."""
        return str(path)

    def storage_options(self) -> dict[str, str] | None:
        """Options polars needs to open :meth:`uri` (none for local files)."""
        return None

    # -- derived datasets --------------------------------------------------------------------------
    def write_derived(self, dataset: str, venue: str, canonical: str, df: pl.DataFrame) -> str:
        """Store a derived dataset's rows (``panel``, ``regimes``) for one partition, replacing them.

        Written to a fsynced temporary and renamed: whole or absent. The same rows written twice give
        the same file, so batch runs are idempotent.
        """
        path = self.partition_dir(_check_part(dataset, "dataset"), venue, canonical) / "data.parquet"
        os.replace(_stage_file(df, path), path)
        return str(path)

    def read_derived(self, dataset: str) -> pl.DataFrame:
        """Every partition of a derived dataset, concatenated (empty frame when there is none)."""
        files = sorted(self.record_dir(dataset).glob("venue=*/symbol=*/data.parquet"))
        # perps differ in columns (one without OI has no oi_* columns): missing ones read as nulls
        frames = [pl.read_parquet(f) for f in files]
        return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()

    # -- writing -----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def write(self, record: RecordType, frame: pl.DataFrame, *, source: str | None = None) -> WriteResult:
        """File ``frame`` into its month partitions; return how many rows were new.

        The frame is conformed to ``record`` first; rows sharing a natural key with stored rows replace
        them (the newest write wins); rows repeated within ``frame`` collapse to the last one. The
        ``source`` (``<kind>:<name>``, see :mod:`perpscope.records.sources`) is part of the key of
        sourced records, so one source never replaces another's rows. Every month file the frame
        touches changes in one commit (:meth:`transaction`): after a crash all of them or none.

        Parameters
        ----------
        source : str, optional
            Stamp every row with this source (default: the frame's own ``source`` column, else
            ``user``).

        Raises
        ------
        StoreError
            When the frame does not conform to the record (nothing is written then).
        """
        with self.transaction() as tx:
            return tx.write(record, frame, source=source)

    def append(
        self, record: RecordType, frame: pl.DataFrame, *, source: str | None = None, fsync: bool = True
    ) -> WriteResult:
        """Add ``frame``'s rows as new part files, without rewriting any month file (the live
        collector's write; see :func:`perpscope.store.parts.append`). Readers see them at once, merged
        with the month's rows as :meth:`write` would merge them."""
        from perpscope.store import parts

        return parts.append(self, record, frame, source=source, fsync=fsync)

    def compact(self, records: list[str] | None = None, *, min_parts: int = 1) -> CompactResult:
        """Seal the live logs of collectors that are gone into parts
        (:func:`perpscope.store.live_log.seal_orphans`), then fold part files into their month files
        (:func:`perpscope.store.parts.compact`)."""
        from perpscope.store import live_log, parts

        live_log.seal_orphans(self, records)
        return parts.compact(self, records, min_parts=min_parts)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Hold the writer lock and gather writes that become visible together, or not at all.

        Each :meth:`Transaction.write` stages new month files beside the old ones; leaving the block
        commits them all (see :mod:`perpscope.store.commit`); an exception discards them. A crash
        before the commit record is durable leaves the store as it was; a crash after it is completed
        by the next writer (or reader) of the store.
        """
        with self._locked():
            self._recover_locked()
            tx = Transaction(self)
            try:
                yield tx
            except BaseException:
                tx.discard()
                raise
            tx.commit()

    def recover(self) -> RecoveryReport:
        """Finish a commit a crash interrupted, and delete temporary files left by crashed writers.

        Runs under the writer lock (it waits for a running writer). Writers call it on their first
        write; readers when they see an unfinished commit.
        """
        if not self.root.is_dir():
            return RecoveryReport()
        with self._locked():
            return self._recover_locked(sweep=True)

    def _recover_locked(self, *, sweep: bool = False) -> RecoveryReport:
        report = commit.roll_forward(self.root)
        if sweep or not self._swept:
            report = report.plus(commit.sweep_temporaries(self.root))
            self._swept = True
        return report

    def _pending_commit(self) -> None:
        """A reader that finds an unfinished commit waits for it (or completes a crashed one)."""
        if commit.pending(self.root):
            with contextlib.suppress(OSError), self._locked():  # read-only store: read what is there
                commit.roll_forward(self.root)


class Transaction:
    """Writes staged under the writer lock, committed together by :meth:`Lake.transaction`."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.staged: dict[Path, Path] = {}  # final month file → its staged replacement
        self.removed: set[Path] = set()  # month files whose every row moved elsewhere
        #: new month files whose first row groups were encoded while their rows were still arriving
        #: (:class:`MonthEncoder`); a write takes one only when it writes exactly those rows first
        self.encoded: dict[Path, MonthEncoder] = {}

    def write(
        self, record: RecordType, frame: pl.DataFrame, *, source: str | None = None, conformed: bool = False
    ) -> WriteResult:
        """Stage ``frame``'s rows (see :meth:`Lake.write`); visible once the transaction commits.

        ``conformed``: the frame's rows were already conformed to ``record`` and checked (the
        importer's parsed files), so they are not conformed a second time; a frame whose columns or
        types are not the record's is still refused.
        """
        df = prepared(record, frame, source, conformed=conformed)
        if df.is_empty():
            return WriteResult(record.name, 0, 0)
        timeless = record.time_col not in record.key
        jobs = [
            (self.lake.partition_dir(record, venue, canonical) / f"{mkey}.parquet", part)
            for venue, canonical, mkey, part in split_by_month(df, record.time_col)
        ]
        if df is not frame:  # conformed or deduplicated here: not the rows encoded ahead
            for path, _ in jobs:
                ahead = self.encoded.pop(path, None)
                if ahead is not None:
                    ahead.abandon()
        with ThreadPoolExecutor(max_workers=min(WRITE_WORKERS, len(jobs))) as pool:
            added = sum(pool.map(lambda job: self._merge_month(record, *job), jobs))
        if timeless:
            # the same key stored under another month (a trade re-stamped across a month boundary)
            added -= self._drop_keys_elsewhere(record, df, {path for path, _ in jobs})
        return WriteResult(record.name, df.height, added, tuple(path for path, _ in jobs))

    def _current(self, path: Path) -> pl.DataFrame | None:
        """A month file as this transaction sees it (its staged version, if any)."""
        if path in self.removed:
            return None
        src = self.staged.get(path, path)
        return pl.read_parquet(src) if src.exists() else None

    def _stage(self, df: pl.DataFrame | bytes, path: Path) -> None:
        tmp = _stage_file(df, path, fsync=False)  # made durable all at once by commit()
        old = self.staged.get(path)
        self.staged[path] = tmp
        self.removed.discard(path)
        if old is not None:
            old.unlink(missing_ok=True)

    def _merge_month(self, record: RecordType, path: Path, new: pl.DataFrame) -> int:
        """Merge ``new`` into one month file; return the number of keys that were not there before."""
        ahead = self.encoded.pop(path, None)
        self._fold_parts(record, path)
        old = self._current(path)
        merged = merge_month(record, old, new, new_one_per_key=True)  # ``new``: a slice of prepared rows
        if merged is None:
            return 0  # nothing new: leave the file untouched
        if ahead is not None and old is None and merged is new and path not in self.staged:
            # a new month file whose rows are the new rows as they came: its row groups encoded ahead
            # are the ones write_parquet would encode; only the rest is encoded now
            data = ahead.finish(new)
            if data is not None:
                self._stage(data, path)
                return merged.height
        self._stage(merged, path)
        return merged.height - (0 if old is None else old.height)

    def _fold_parts(self, record: RecordType, path: Path) -> None:
        """Fold the live parts of ``path``'s month into it first (:mod:`perpscope.store.parts`): they are
        older than this write, which must win over them, and they go in the same commit."""
        from perpscope.store.parts import merged_month, parts_by_month

        parts = [p for p in parts_by_month(path.parent).get(path, []) if p not in self.removed]
        if not parts:
            return
        merged = merged_month(record, self._current(path), parts)
        if merged is not None:
            self._stage(merged, path)
        self.removed.update(parts)

    def _drop_keys_elsewhere(self, record: RecordType, df: pl.DataFrame, written: set[Path]) -> int:
        """Remove rows whose key ``df`` now holds from the partition's other month files; return how many.

        Files are skipped by the Parquet statistics of the key's integer column (a trade id range) when
        it has one, so a write reads only the months whose ids overlap its own.
        """
        removed = 0
        key = list(record.key)
        int_keys = [k for k in key if record.polars_schema[k] == pl.Int64]
        # the pairs checked constant first (a batch of one symbol's files), not hashed row by row
        pairs = _partitions(df)
        parts = (
            df.partition_by(["venue", "canonical"], as_dict=True) if pairs.height > 1 else {pairs.row(0): df}
        )
        for (venue, canonical), part in parts.items():
            keys: pl.DataFrame | None = None  # selected only when a file may hold some of them
            span = None
            if int_keys:
                s = part.get_column(int_keys[0])
                span = (s.min(), s.max())
            directory = self.lake.partition_dir(record, str(venue), str(canonical))
            for path in sorted(directory.glob("*.parquet")):
                if path in written or (span and not _may_hold(path, int_keys[0], span)):
                    continue
                old = self._current(path)
                if old is None:
                    continue
                if keys is None:
                    keys = part.select(key)
                kept = old.join(keys, on=key, how="anti", nulls_equal=True)
                if kept.height == old.height:
                    continue
                removed += old.height - kept.height
                if kept.is_empty():
                    self.removed.add(path)
                    tmp = self.staged.pop(path, None)
                    if tmp is not None:
                        tmp.unlink(missing_ok=True)
                else:
                    self._stage(kept, path)
        return removed

    def commit(self) -> None:
        """Make every staged file visible (one durable commit record, then the renames)."""
        if not self.staged and not self.removed:
            return
        try:
            # every staged file's data durable before the commit record names it, fsynced together
            commit.fsync_all(self.staged.values())
            commit.apply(self.lake.root, self.staged, self.removed)
        except BaseException:
            if not commit.pending(self.lake.root):  # failed before the commit point: as if never begun
                self.discard()
            raise  # after it, the staged files belong to the commit record: recovery finishes them
        self.staged, self.removed = {}, set()

    def discard(self) -> None:
        """Delete the staged files: the store stays as it was."""
        for tmp in self.staged.values():
            tmp.unlink(missing_ok=True)
        self.staged, self.removed = {}, set()


def prepared(
    record: RecordType, frame: pl.DataFrame, source: str | None = None, *, conformed: bool = False
) -> pl.DataFrame:
    """``frame`` stamped with ``source`` and conformed to ``record``, as every writer stores it.

    A record whose key does not hold its time (a trade id) keeps one row per key, the last one.
    With ``conformed`` (rows already conformed and checked), only the columns and types are compared.

    Raises
    ------
    StoreError
        When the frame does not conform to the record.
    """
    if source is not None and "source" in record.columns:
        frame = frame.with_columns(pl.lit(source, pl.String).alias("source"))
    if conformed and list(frame.schema.items()) == list(record.polars_schema.items()):
        df = frame
    else:
        try:
            df = record.conform(frame)
        except ValueError as exc:
            raise StoreError(f"not written: {exc}") from exc
    return one_per_key(record, df)


def one_per_key(record: RecordType, df: pl.DataFrame) -> pl.DataFrame:
    """Rows of a frame already conformed to ``record`` as :func:`prepared` leaves them: for a record whose
    key does not hold its time (a trade id), the last row of each key. The live collector's rows are
    conformed when they are admitted; conforming them again cost 0.9 ms of CPU per 400-trade flush."""
    if not df.is_empty() and record.time_col not in record.key:
        return _last_per_key(df, list(record.key))
    return df


def merge_month(
    record: RecordType, old: pl.DataFrame | None, new: pl.DataFrame, *, new_one_per_key: bool = False
) -> pl.DataFrame | None:
    """A month file's rows after merging ``new`` into ``old`` (its stored rows), or None when unchanged.

    Rows sharing a natural key collapse to one, the newest write winning; shared by the local and the
    object-store writer so both store the same rows for the same writes. ``new_one_per_key``: ``new``
    holds one row per key already (:func:`prepared`'s rows), so a new month file's rows are not
    checked for repeated keys a second time (~21 ms of CPU on two million trades, at the end of an
    import, when nothing else runs).
    """
    sort_cols = [record.time_col, *[k for k in record.key if k != record.time_col]]
    if old is not None and old.columns != list(record.columns):
        old = record.conform(old)  # a file written before a column was added (e.g. ``source``)
    both = new if old is None else pl.concat([old, new], how="vertical")
    if record.time_col not in record.key and not (old is None and new_one_per_key):
        # equal keys need not be neighbours after sorting by time: keep the newest of each key
        both = _last_per_key(both, list(record.key))
    if both.height >= IN_ORDER_CHECK_ROWS and _strictly_increasing(both, sort_cols):
        merged = both  # already in order, no key twice (new rows after the stored ones)
    else:
        # stable sort: among equal keys the stored row comes first, so keeping the last row lets the
        # newest write win
        merged = _keep_last_of_equal_keys(both.sort(sort_cols, maintain_order=True), sort_cols)
    if old is not None and merged.height == old.height and merged.equals(old):
        return None
    return merged


def part_month(name: str) -> str:
    """The ``yyyy-mm`` a month file holds: ``2024-01.parquet`` (local) or ``2024-01.<id>.parquet``
    (an object-store part)."""
    return name.split(".", 1)[0]


def split_by_month(df: pl.DataFrame, time_col: str) -> Iterator[tuple[str, str, str, pl.DataFrame]]:
    """(venue, canonical, ``yyyy-mm``, rows) per partition file; rows come out sorted by time.

    Slicing a time-sorted frame at month starts (binary search) is zero-copy, where a group-by on a
    formatted month string cost a third of a 1.6-million-row write.
    """
    pairs = _partitions(df)
    parts = df.partition_by(["venue", "canonical"], as_dict=True) if pairs.height > 1 else None
    for venue, canonical in pairs.iter_rows():
        part = parts[(venue, canonical)] if parts is not None else df
        if not part.get_column(time_col).is_sorted():
            part = part.sort(time_col, maintain_order=True)
        t = part.get_column(time_col).dt.epoch("ms").to_numpy()
        start = month_start_ms(int(t[0]))
        while start <= t[-1]:
            nxt = next_month_ms(start)
            lo, hi = np.searchsorted(t, [start, nxt])
            if hi > lo:
                yield venue, canonical, month_key(start), part.slice(int(lo), int(hi - lo))
            start = nxt


#: The store's own modules' name for it (:mod:`perpscope.store.parts`, the object-store lake).
_split_by_month = split_by_month


def _partitions(df: pl.DataFrame) -> pl.DataFrame:
    """The (venue, canonical) pairs of ``df`` in order of appearance.

    One file's rows (or a batch of one symbol's files) hold one pair: that is checked by comparing
    with the first row, which polars does once for a constant column, before hashing every row.
    """
    one = df.select(
        (pl.col("venue").eq_missing(pl.col("venue").first()).all())
        & (pl.col("canonical").eq_missing(pl.col("canonical").first()).all())
    ).item()
    if one and df.height:
        return df.select(pl.col("venue", "canonical").first())
    return df.select("venue", "canonical").unique(maintain_order=True)


def _strictly_increasing(df: pl.DataFrame, cols: list[str]) -> bool:
    """True when each row's ``cols`` (a tuple, compared column by column) exceeds the row before.

    Such a frame is sorted by ``cols`` with no two rows sharing them — what sorting and keeping the
    last of equal keys would return — so a merge can skip both (archive files come in this order).
    One vectorized comparison of neighbours, nulls taken as equal to nulls and below values.
    """
    if df.height < 2:
        return True
    if df.height >= RISES_IN_PLACE_ROWS and _rises_in_order(df, cols):
        return True
    # a column equal in every row never decides the order: leave it out (a batch's venue, symbol and
    # source are constant), and compare what is left with numpy when it is a time and an integer
    constant = _constant(df, cols)
    varying = [c for c, same in zip(cols, constant, strict=True) if not same]
    if not varying:
        return False  # every row equal to the next
    arrays = _int_arrays(df, varying)
    if arrays is not None:
        return _strictly_increasing_ints(arrays)
    later: pl.Expr = pl.lit(False)
    for c in reversed(varying):
        cur, nxt = pl.col(c), pl.col(c).shift(-1)
        greater = (nxt > cur).fill_null(False) | (cur.is_null() & nxt.is_not_null())
        later = greater | (cur.eq_missing(nxt) & later)
    return bool(df.select(later.slice(0, df.height - 1).all()).item())


def _rises_in_order(df: pl.DataFrame, cols: list[str]) -> bool:
    """True when the rows, compared as ``cols`` tuples, strictly increase because their other columns
    are constant and, of their integer and instant columns (no null) in order, one strictly increases
    and none before it ever decreases. False says nothing (compare the rows as tuples then).

    The common case — a month of trades: venue, symbol and source constant, times never going back,
    ids rising; a month of bars: times rising — checked on each column's chunks in place (numpy views
    of polars' buffers), with no copy of a whole column into one array and no difference arrays: two
    million trades in ~5 ms, where the tuple comparison took ~12 ms, on one core alone at the end of
    an import.
    """
    numeric = [c for c in cols if df.schema[c].is_integer() or isinstance(df.schema[c], pl.Datetime)]
    text = [c for c in cols if c not in numeric]
    if text and not all(_constant(df, text)):
        return False
    for c in numeric:
        s = df.get_column(c)
        if s.null_count():
            return False
        found = rise(s)
        if found != NEVER_FALLS:
            return found == RISES
    return False


def _int_arrays(df: pl.DataFrame, cols: list[str]) -> list[np.ndarray] | None:
    """``cols`` as int64 numpy arrays (instants as epoch ms) when there are at most two, none with a
    null and each integer or datetime; else None."""
    if len(cols) > 2:
        return None
    out = []
    for c in cols:
        s = df.get_column(c)
        if s.null_count():
            return None
        if isinstance(s.dtype, pl.Datetime):
            s = s.dt.epoch("ms") if s.dtype.time_unit == "ms" else None  # type: ignore[assignment]
        if s is None or s.dtype != pl.Int64:
            return None
        out.append(s.to_numpy())
    return out


def _strictly_increasing_ints(arrays: list[np.ndarray]) -> bool:
    """True when the rows of ``arrays`` (one or two int64 columns, compared as tuples) strictly increase."""
    d0 = np.diff(arrays[0])
    if len(arrays) == 1:
        return bool((d0 > 0).all())
    d1 = np.diff(arrays[1])
    return bool(((d0 > 0) | ((d0 == 0) & (d1 > 0))).all())


def _last_per_key(df: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """The last row of each ``key`` (any order out), for keys that do not hold the time (a trade id).

    Archive trades and a live flush's come with one venue, symbol and source and increasing ids: that
    case is checked (:func:`_constant`) and returned as is. Otherwise rows are sorted by key
    (stable, so the last written stays last) and runs of equal keys cut — several times cheaper than an
    order-keeping hash ``unique``.
    """
    if df.height < 2:
        return df
    ints = [k for k in key if df.schema[k] == pl.Int64]
    if len(ints) == 1:
        ids = df.get_column(ints[0])
        others = [k for k in key if k != ints[0]]
        if ids.null_count() == 0 and all(_constant(df, others)):
            a = ids.to_numpy()  # numpy on the ids' buffer: polars' ``diff`` is a query (~65 µs per flush)
            if bool((a[1:] > a[:-1]).all()):
                return df
    return _keep_last_of_equal_keys(df.sort(key, maintain_order=True), key)


#: Rows up to which :func:`_constant` checks series (a live flush) rather than one query (an import):
#: three text columns of 400 rows took 11 µs as series and 71 µs as a query, of 43,200 rows 532 and 196.
CONSTANT_BY_SERIES_ROWS = 8_192


def _constant(df: pl.DataFrame, cols: list[str]) -> tuple[bool, ...]:
    """Whether each of ``cols`` holds its first row's value in every row (nulls equal to nulls).

    A large frame is checked in one query: polars holds a column made from one value (a file's venue,
    symbol, source) as that value and checks it once, where ``get_column`` would build every row's
    string first — 2 ms per column of two million trades, at the end of an import when nothing else runs
    (0.07 ms as a query). A small one (a live flush of a few hundred rows) is checked on its series
    (:func:`_one_value`), cheaper than building a query.
    """
    if not cols:
        return ()
    if df.height <= CONSTANT_BY_SERIES_ROWS:
        return tuple(_one_value(df.get_column(c)) for c in cols)
    return tuple(df.select(pl.col(c).eq_missing(pl.col(c).first()).all() for c in cols).row(0))


def _one_value(s: pl.Series) -> bool:
    """True when every value of ``s`` equals its first (nulls equal to nulls): all null, or none null and
    its least value its greatest (two reductions; ``eq_missing`` is a query: 58 µs on a live flush)."""
    if s.dtype.is_float():  # a NaN is neither least nor greatest
        return bool(s.eq_missing(s[0]).all())
    nulls = s.null_count()
    return nulls == s.len() or (nulls == 0 and s.min() == s.max())


def _keep_last_of_equal_keys(df: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """Rows of a frame sorted by ``key``, keeping the last of each run of equal keys.

    On sorted input this is a single comparison with the next row — several times cheaper than a
    hash-based ``unique(maintain_order=True)`` on millions of rows.
    """
    if df.height < 2:
        return df
    differs = pl.any_horizontal([pl.col(c).ne_missing(pl.col(c).shift(-1)) for c in key])
    return df.filter(differs)


def write_parquet(df: pl.DataFrame, target: Path | IO[bytes]) -> None:
    """Write ``df`` as the store writes every month file (zstd level 1, plain floats at
    :data:`FLOAT_ZSTD_LEVEL`; statistics, row groups).

    A frame of :data:`PYARROW_FROM_ROWS` rows or more is written by pyarrow with an encoding per
    column, chosen for write time and size (measured on 1 M archive trades and 1 M one-minute
    candles against polars' writer, which tries a dictionary on every column):

    - a text column with one value (venue, symbol, source: every row of a month file) is handed over
      as a one-entry dictionary, so nothing is hashed: ~9 ms per million rows against ~19 ms;
    - integer and instant columns are delta-encoded (ids and times rise by small steps): trade ids
      23 → 7 ms and 1.0 → 0.01 MB, times 24 → 10 ms and 1.8 → 1.2 MB per million rows;
    - other text columns and float columns get a dictionary while it stays within
      :data:`DICTIONARY_PAGE_BYTES`, then fall back to plain values: trade prices and sizes repeat
      (157 → 128 ms, 5.7 → 4.0 MB per million trades), candle prices hardly do, and a small limit
      gives up on them early (+2% time, +1% size, where pyarrow's default 1 MB limit cost +69%);
      a float column whose leading values are mostly distinct (candle prices and volumes) gets none
      at all (:func:`_dictionary_columns`): 172,800 one-minute candles (four months' worth, as one
      symbol's trade, mark, index and premium bars of a month) 58.7 → 55.2 ms, 6.24 → 6.13 MB; a
      month of one symbol's 44,640 bars written this way 17.9 → 14.4 ms, 1.70 → 1.58 MB (such a
      month is written by pyarrow since :data:`PYARROW_FROM_ROWS` is 16 k);
    - a float column without a dictionary is compressed at :data:`FLOAT_ZSTD_LEVEL` (−1), the rest
      at :data:`ZSTD_LEVEL`: the 36 monthly 1-minute kline files of the import benchmark stored in
      58.1 MB instead of 66.1 MB (polars' writer at level 1), read back through the store's reader
      in 239–255 ms of CPU instead of 278–287.

    Trades: 229 → ~130 ms and 6.8 → 4.0 MB per million rows; candles 413 → ~360 ms, 43 → 38 MB; read
    back 54 → 25 ms and 114 → 110 ms. Smaller frames keep polars' writer: pyarrow's fixed cost per
    file (~1.3 ms against ~0.65 ms) doubled the write time of the shared data's 3,600 small month files.
    Every reader (polars, pyarrow, DuckDB) reads either file back as the same frame: same columns,
    same types (instants as ms in UTC), same values.
    """
    if df.height < PYARROW_FROM_ROWS:
        df.write_parquet(
            target,
            compression="zstd",
            compression_level=ZSTD_LEVEL,
            statistics=True,
            row_group_size=ROW_GROUP_ROWS,
        )
        return
    pq.write_table(_arrow_table(df), target, row_group_size=ROW_GROUP_ROWS, **_pyarrow_options(df))


def _pyarrow_options(df: pl.DataFrame) -> dict[str, Any]:
    """The options of a month file pyarrow writes (:func:`write_parquet`, :class:`MonthEncoder`), for
    the month's rows ``df`` (or its first row group: only the leading rows are looked at)."""
    schema = df.schema
    dictionary = _dictionary_columns(df)
    return {
        "compression": "zstd",
        "compression_level": {
            c: FLOAT_ZSTD_LEVEL if t == pl.Float64 and c not in dictionary else ZSTD_LEVEL
            for c, t in schema.items()
        },
        "write_statistics": True,
        "use_dictionary": dictionary,
        "dictionary_pagesize_limit": DICTIONARY_PAGE_BYTES,
        "column_encoding": {c: "DELTA_BINARY_PACKED" for c, t in schema.items() if _delta_encoded(t)},
        "write_batch_size": WRITE_BATCH_ROWS,
        # the Arrow schema is not stored: it would bring one-entry dictionaries back as categoricals
        "store_schema": False,
    }


def _dictionary_columns(df: pl.DataFrame) -> list[str]:
    """Columns given a dictionary: text, and floats whose leading values (the first
    :data:`DICTIONARY_SAMPLE_ROWS`, within the first row group, so a month encoded ahead by row groups
    decides alike) are at most half distinct. Trade prices and sizes repeat (a few hundred distinct
    values in 16 k trades); a month of candles' prices and volumes hardly do (12–16 k in 16 k bars),
    so their dictionary always outgrew :data:`DICTIONARY_PAGE_BYTES` and was built for nothing."""
    head = df.head(min(DICTIONARY_SAMPLE_ROWS, ROW_GROUP_ROWS))
    out = []
    for c, t in df.schema.items():
        if t == pl.String:
            out.append(c)
        elif t == pl.Float64:
            values = head.get_column(c).drop_nulls().to_numpy()
            if len(np.unique(values)) * 2 <= max(len(values), 1):
                out.append(c)
    return out


def _delta_encoded(dtype: pl.DataType) -> bool:
    return dtype in (pl.Int64, pl.Int32) or (isinstance(dtype, pl.Datetime) and dtype.time_unit == "ms")


def _one_values(df: pl.DataFrame) -> dict[str, str]:
    """The text columns of ``df`` that hold one value in every row (no null), with that value."""
    text = [c for c, t in df.schema.items() if t == pl.String]
    if not text or not df.height:
        return {}
    # one pass over every text column, in expressions: a column polars holds as one repeated value
    # is checked without materializing it (``get_column`` would build every row's string)
    first = df.select(
        *(pl.col(c).eq_missing(pl.col(c).first()).all().alias(f"same:{c}") for c in text),
        *(pl.col(c).first().alias(c) for c in text),
    ).row(0, named=True)
    return {c: first[c] for c in text if first[f"same:{c}"] and first[c] is not None}


def _literal_values() -> dict[str, tuple[str, ...]]:
    """Text columns whose values a record's ``Literal`` field declares (``taker_side``: buy, sell), with
    those values (a name several records share gets every value any of them admits)."""
    out: dict[str, tuple[str, ...]] = {}
    for rt in RECORDS.values():
        for f in rt.fields:
            if f.allowed and f.polars == pl.String:
                known = out.get(f.name, ())
                out[f.name] = known + tuple(v for v in f.allowed if v not in known)
    return out


#: Text column → the few values it may hold (:func:`_literal_values`), written as a dictionary of them.
LITERAL_VALUES = _literal_values()


def _coded(s: pl.Series) -> pa.DictionaryArray | None:
    """A text column of :data:`LITERAL_VALUES` as a dictionary of its declared values, its indices found
    by comparing with each value (no hashing); None when it holds a null or another value (then it is
    written as text, and pyarrow builds the dictionary)."""
    values = LITERAL_VALUES.get(s.name)
    if values is None or s.dtype != pl.String or s.null_count() or len(values) > 127:
        return None
    hits = [s.eq(v) for v in values]
    if sum(int(h.sum()) for h in hits) != s.len():  # a value the record does not declare
        return None
    indices = hits[0].not_().cast(pl.Int8)  # 0 for the first value, 1 for any other
    for i, hit in enumerate(hits[2:], start=2):
        indices = indices + hit.cast(pl.Int8) * (i - 1)
    return pa.DictionaryArray.from_arrays(pa.array(indices.to_numpy()), pa.array(values, pa.string()))


def _arrow_table(df: pl.DataFrame, one_value: dict[str, str] | None = None) -> pa.Table:
    """``df`` as an Arrow table, a text column with one value as a one-entry dictionary (the columns
    ``one_value`` names, else those :func:`_one_values` finds), and one of a record's declared values
    (``taker_side``) as a dictionary of those (:func:`_coded`).

    Handing pyarrow dictionaries spares it hashing every row's text to build them: a million trades'
    ``taker_side`` took 8 ms to convert and 33 ms to write as text, 3 and 20 ms as a two-entry
    dictionary. The Parquet file holds the same values (pyarrow computes statistics over the values
    used), and reads back as text: the Arrow schema is not stored (:func:`_pyarrow_options`).
    """
    if one_value is None:
        one_value = _one_values(df)
    coded = {
        c: arr
        for c in df.columns
        if c not in one_value and c in LITERAL_VALUES and (arr := _coded(df.get_column(c))) is not None
    }
    rest = df.select(c for c in df.columns if c not in one_value and c not in coded).to_arrow(
        compat_level=pl.CompatLevel.oldest()
    )
    if not one_value and not coded:
        return rest
    indices = pa.array(np.zeros(df.height, dtype=np.int8))  # pyarrow's statistics pass reads them
    columns = [
        pa.DictionaryArray.from_arrays(indices, pa.array([one_value[c]], pa.string()))
        if c in one_value
        else coded[c]
        if c in coded
        else rest.column(c)
        for c in df.columns
    ]
    return pa.table(columns, names=df.columns)


class MonthEncoder:
    """A new month file's row groups encoded while its rows are still arriving, into memory.

    The importer parses files while its writer thread would otherwise wait for the batch to fill; a
    month of two million trades took ~0.3 s of one core to encode after the last file was parsed, the
    other core idle. Rows are fed (:meth:`feed`) in the order the batch holds them, each slice sorted
    by time and none before the one fed last; each complete row group (:data:`ROW_GROUP_ROWS`) is
    encoded at once with :func:`write_parquet`'s options, as a Parquet file of its own — on ``pool``'s
    threads when one is given, so the row groups of the last files parsed are encoded on both cores,
    not one after the other on one (pyarrow encodes one file on one core). :meth:`finish` takes the
    frame the transaction writes — the fed rows in the same order when the batch was stored as it came
    (see :meth:`Transaction.write`), which its time column confirms — encodes the rest and joins the
    row groups into one file without encoding them again (:func:`~perpscope.store.parquet_stitch.stitch`),
    byte for byte the file :func:`write_parquet` writes whole; otherwise it returns None and the frame
    is written whole. Into memory, not a temporary file: another writer's recovery sweeps temporaries,
    and this work runs before the writer lock is held. A month of less than one row group is never
    encoded here: it is written whole, by :func:`write_parquet`.
    """

    def __init__(self, record: RecordType, pool: Executor | None = None) -> None:
        self.record = record.name
        self.time_col = record.time_col
        self._pool = pool
        self._pending: list[pl.DataFrame] = []  # rows fed, not yet a whole row group
        self._pending_rows = 0
        self._times: list[np.ndarray] = []  # instants (physical values) of the rows encoded, in order
        self._last: int | None = None  # the latest instant fed
        self._one_value: dict[str, str] = {}  # text columns held as one-entry dictionaries
        self._schema: pl.Schema | None = None
        self._options: dict[str, Any] = {}  # the month's writer options, from its first row group
        self._pieces: list[Future[_Piece | None]] = []  # each row group's file, in order
        self.rows_encoded = 0
        self.abandoned = False
        self.sealed = False  # no more rows come (:meth:`seal`)
        self._short_last = False  # the last group encoded is shorter than a row group (sealed)

    def feed(self, rows: pl.DataFrame) -> None:
        """Take the next rows of the month; encode every row group they complete."""
        if self.abandoned or not rows.height:
            return
        if self.sealed:  # the last row group is encoded already
            self.abandon()
            return
        try:
            t = rows.get_column(self.time_col)
            first = t.dt.epoch("ms").first()
            if not t.is_sorted() or (self._last is not None and first < self._last):  # type: ignore[operator]
                self.abandon()  # the write sorts these rows: what is encoded here would not match
                return
            self._last = t.dt.epoch("ms").last()  # type: ignore[assignment]
            self._pending.append(rows)
            self._pending_rows += rows.height
            while self._pending_rows >= ROW_GROUP_ROWS:
                both = pl.concat(self._pending, how="vertical")
                if not self._encode(both.slice(0, ROW_GROUP_ROWS)):
                    return
                rest = both.slice(ROW_GROUP_ROWS)
                self._pending, self._pending_rows = ([rest] if rest.height else []), rest.height
        except Exception:  # rows this cannot encode ahead are written whole later (and refused there)
            self.abandon()

    def seal(self) -> None:
        """No more rows come: start encoding the rows fed since the last complete row group (the
        month's last, shorter one) now, on the pool, while the transaction checks the batch's rows,
        rather than in :meth:`finish`. A month of less than one row group stays unencoded."""
        if self.abandoned or self.sealed:
            return
        self.sealed = True
        if not self._pieces or not self._pending_rows:
            return
        try:
            rows = pl.concat(self._pending, how="vertical")
            self._pending, self._pending_rows = [], 0
            self._encode(rows)
            self._short_last = True  # a shorter group: only ever the file's last one
        except Exception:
            self.abandon()

    def _encode(self, group: pl.DataFrame) -> bool:
        """Start encoding one row group (on the pool, if any)."""
        if self._schema is None:
            self._schema = group.schema
            self._one_value = _one_values(group)
            self._options = _pyarrow_options(group)
        elif group.schema != self._schema:
            self.abandon()
            return False
        if self._pool is not None:
            self._pieces.append(self._pool.submit(self._piece, group))
        else:
            done: Future[_Piece | None] = Future()
            done.set_result(self._piece(group))
            self._pieces.append(done)
        self._times.append(group.get_column(self.time_col).to_physical().to_numpy())
        self.rows_encoded += group.height
        return True

    def _piece(self, rows: pl.DataFrame) -> _Piece | None:
        """``rows`` as a Parquet file of their own, written with the month's options; None when the
        whole write would store them otherwise (a one-valued column that is not so here)."""
        try:
            if not self._still_one_valued(rows):
                return None
            table = _arrow_table(rows, self._one_value)
            sink = pa.BufferOutputStream()
            with pq.ParquetWriter(sink, table.schema, **self._options) as writer:
                writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
            taken = split(sink.getvalue())  # its footer read here, not at the end on one core
            return None if taken is None else (table.schema, taken)
        except Exception:
            return None

    def _still_one_valued(self, rows: pl.DataFrame) -> bool:
        """Whether the columns written as one-entry dictionaries hold that one value in ``rows`` too
        (then they hold it in the whole month, as :func:`write_parquet` would find)."""
        found = _one_values(rows.select(list(self._one_value))) if self._one_value else {}
        return found == self._one_value

    def finish(self, frame: pl.DataFrame) -> bytes | None:
        """The month file holding ``frame``'s rows, or None unless its first rows are those encoded."""
        if self.abandoned or not self._pieces or self.rows_encoded > frame.height:
            self.abandon()
            return None
        if self._short_last and frame.height != self.rows_encoded:
            self.abandon()  # rows after a short group: the whole write would cut the groups otherwise
            return None
        try:
            head = frame.slice(0, self.rows_encoded)
            if head.schema != self._schema or not _same_instants(head.get_column(self.time_col), self._times):
                self.abandon()
                return None
            rest = frame.slice(self.rows_encoded)
            # the rest in this thread, while the pool may still encode the last groups fed
            tail = [
                self._piece(rest.slice(lo, ROW_GROUP_ROWS)) for lo in range(0, rest.height, ROW_GROUP_ROWS)
            ]
            pieces = [p.result() for p in self._pieces] + tail
            self._pieces = []
            if any(p is None for p in pieces) or len({p[0] for p in pieces if p is not None}) != 1:
                self.abandon()  # a group the whole write would store otherwise: other column types
                return None
            joined = stitch([p[1] for p in pieces if p is not None])
            if joined is None:
                self.abandon()
                return None
            return b"".join(joined)
        except Exception:
            self.abandon()
            return None

    def abandon(self) -> None:
        """Stop encoding ahead and let go of what was encoded."""
        self.abandoned = True
        for piece in self._pieces:
            piece.cancel()
        self._pieces, self._pending, self._times = [], [], []


#: One row group encoded as a Parquet file of its own: the Arrow schema it was written from, the file
#: taken apart for joining.
_Piece = tuple[pa.Schema, Split]


def _same_instants(s: pl.Series, expected: list[np.ndarray]) -> bool:
    """Whether the instants (or integers) of ``s`` are ``expected`` (arrays one after the other), compared
    on numpy views of the series' chunks: no copy of two million instants into one array and of the
    expected ones into another (~5 ms, on one core at the end of an import)."""
    want: list[np.ndarray] = [e for e in expected if len(e)][::-1]  # popped from the end
    cur: np.ndarray = np.empty(0, np.int64)
    for chunk in s.to_physical().get_chunks():
        a = chunk.to_numpy()
        while len(a):
            if not len(cur):
                if not want:
                    return False  # more instants than were encoded
                cur = want.pop()
            n = min(len(a), len(cur))
            if not np.array_equal(a[:n], cur[:n]):
                return False
            a, cur = a[n:], cur[n:]
    return not len(cur) and not want


def encode_ahead(
    lake: Lake,
    record: RecordType,
    frame: pl.DataFrame,
    encoders: dict[Path, MonthEncoder],
    pool: Executor | None = None,
) -> None:
    """Feed ``frame`` — the next rows of a batch a :class:`Transaction` will write — to the encoders of
    the new month files its rows go to (``encoders``: month file → encoder, one dict per batch), whose
    row groups are encoded on ``pool`` (see :class:`MonthEncoder`).

    Only a frame of one partition and at least :data:`ENCODE_AHEAD_MIN_ROWS` rows is fed (an archive
    file of a busy symbol); splitting every small or many-symbol frame cost more than encoding ahead
    saves (the shared data: 3,600 month files, none of a row group). Such a frame ends the encoding
    ahead of its record's months in this batch, whose rows it may hold. A month file already stored
    is merged at the write, not encoded here.
    """
    try:
        if frame.height < ENCODE_AHEAD_MIN_ROWS or _partitions(frame).height != 1:
            for stale in encoders.values():
                if stale.record == record.name:
                    stale.abandon()
            return
        for venue, canonical, month, part in split_by_month(frame, record.time_col):
            path = lake.partition_dir(record, venue, canonical) / f"{month}.parquet"
            if path not in encoders:
                encoders[path] = MonthEncoder(record, pool)
                if path.exists():
                    encoders[path].abandon()
            encoders[path].feed(part)
    except Exception:  # e.g. a symbol that cannot name a folder: the write refuses it
        for failed in encoders.values():
            failed.abandon()


def _stage_file(df: pl.DataFrame | bytes, path: Path, *, fsync: bool = True) -> Path:
    """Write ``df`` (or a Parquet file's bytes) to a temporary file beside ``path`` (fsynced unless
    told not to); return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{commit.TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        if isinstance(df, bytes):
            tmp.write_bytes(df)
        else:
            write_parquet(df, tmp)
        if fsync:
            with tmp.open("rb+") as fh:
                os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _may_hold(path: Path, column: str, span: tuple[Any, Any]) -> bool:
    """False when the file's statistics show no ``column`` value within ``span`` (True when unsure)."""
    try:
        meta = pq.ParquetFile(path).metadata
        idx = meta.schema.names.index(column)
        lo = hi = None
        for g in range(meta.num_row_groups):
            st = meta.row_group(g).column(idx).statistics
            if st is None or not st.has_min_max:
                return True
            lo = st.min if lo is None else min(lo, st.min)
            hi = st.max if hi is None else max(hi, st.max)
    except (OSError, ValueError, pa.ArrowException):
        return True
    return lo is None or not (hi < span[0] or lo > span[1])
