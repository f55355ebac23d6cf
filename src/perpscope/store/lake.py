"""The Parquet lake: ``<root>/<record>/venue=<v>/symbol=<canonical>/<yyyy-mm>.parquet``.

Writes are idempotent (rows are deduplicated on each record's natural key, the newest write winning,
so re-importing a file adds nothing and a revised value replaces the old one) and atomic (a month
file is written to a temporary file beside it, fsynced, then renamed over the old one, so a reader or
a crash sees either the old file or the new one, never a torn file). One writer at a time holds an
exclusive lock on ``<root>/.lock``; readers need no lock.

The partition folder is named ``symbol=<canonical>`` (``BTC-USDT-PERP``): Binance spells its spot and
perpetual ``BTCUSDT`` alike, so the venue's symbol alone cannot tell their files apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from perpscope.core.errors import StoreError
from perpscope.core.time import month_key, month_start_ms, next_month_ms
from perpscope.records import RECORDS, RecordType

_SAFE = re.compile(r"^[A-Za-z0-9._+\-]+$")
#: Rows per Parquet row group: small enough for range pruning, large enough for fast scans.
ROW_GROUP_ROWS = 256 * 1024
#: zstd level 1: within 10% of level 3's size at about half the write time (measured on 1.6 M candles).
ZSTD_LEVEL = 1
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
    if not _SAFE.match(value):
        raise StoreError(f"{what} {value!r} cannot name a store folder (letters, digits, . _ + - only)")
    return value


class Lake:
    """A Parquet lake rooted at ``root`` (created on first write).

    Parameters
    ----------
    root : Path
        The data directory.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

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
        """Month files of a record, optionally for one venue and/or canonical symbol, sorted."""
        base = self.record_dir(record)
        v = f"venue={venue}" if venue else "venue=*"
        s = f"symbol={canonical}" if canonical else "symbol=*"
        return sorted(base.glob(f"{v}/{s}/*.parquet"))

    def partitions(self, record: RecordType | str) -> list[tuple[str, str]]:
        """(venue, canonical) pairs that have files for ``record``."""
        out = []
        for d in sorted(self.record_dir(record).glob("venue=*/symbol=*")):
            if any(d.glob("*.parquet")):
                out.append((d.parent.name.split("=", 1)[1], d.name.split("=", 1)[1]))
        return out

    def records_present(self) -> list[str]:
        return [name for name in RECORDS if self.record_dir(name).is_dir()]

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
        sourced records, so one source never replaces another's rows.

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
        if source is not None and "source" in record.columns:
            frame = frame.with_columns(pl.lit(source, pl.String).alias("source"))
        try:
            df = record.conform(frame)
        except ValueError as exc:
            raise StoreError(f"not written: {exc}") from exc
        if df.is_empty():
            return WriteResult(record.name, 0, 0)
        jobs = [
            (self.partition_dir(record, venue, canonical) / f"{mkey}.parquet", part)
            for venue, canonical, mkey, part in _split_by_month(df, record.time_col)
        ]
        with self._locked(), ThreadPoolExecutor(max_workers=min(WRITE_WORKERS, len(jobs))) as pool:
            added = sum(pool.map(lambda job: self._merge_month(record, *job), jobs))
            for d in {path.parent for path, _ in jobs}:
                _fsync_dir(d)  # once per folder, not per file: the renames are then durable
        return WriteResult(record.name, df.height, added, tuple(path for path, _ in jobs))

    def _merge_month(self, record: RecordType, path: Path, new: pl.DataFrame) -> int:
        """Merge ``new`` into one month file; return the number of keys that were not there before."""
        sort_cols = [record.time_col, *[k for k in record.key if k != record.time_col]]
        old = pl.read_parquet(path) if path.exists() else None
        if old is not None and old.columns != list(record.columns):
            old = record.conform(old)  # a file written before a column was added (e.g. ``source``)
        both = new if old is None else pl.concat([old, new], how="vertical")
        # stable sort: among equal keys the stored row comes first, so keeping the last row lets the
        # newest write win
        merged = _keep_last_of_equal_keys(both.sort(sort_cols, maintain_order=True), sort_cols)
        before = 0 if old is None else old.height
        if old is not None and merged.height == before and merged.equals(old):
            return 0  # nothing new: leave the file untouched
        _atomic_write(merged, path)
        return merged.height - before


def _split_by_month(df: pl.DataFrame, time_col: str) -> Iterator[tuple[str, str, str, pl.DataFrame]]:
    """(venue, canonical, ``yyyy-mm``, rows) per partition file; rows come out sorted by time.

    Slicing a time-sorted frame at month starts (binary search) is zero-copy, where a group-by on a
    formatted month string cost a third of a 1.6-million-row write.
    """
    pairs = df.select("venue", "canonical").unique(maintain_order=True)
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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _keep_last_of_equal_keys(df: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """Rows of a frame sorted by ``key``, keeping the last of each run of equal keys.

    On sorted input this is a single comparison with the next row — several times cheaper than a
    hash-based ``unique(maintain_order=True)`` on millions of rows.
    """
    if df.height < 2:
        return df
    differs = pl.any_horizontal([pl.col(c).ne_missing(pl.col(c).shift(-1)) for c in key])
    return df.filter(differs)


def _atomic_write(df: pl.DataFrame, path: Path) -> None:
    """Write ``df`` to ``path`` via a fsynced temporary file and a rename (POSIX-atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        df.write_parquet(
            tmp,
            compression="zstd",
            compression_level=ZSTD_LEVEL,
            statistics=True,
            row_group_size=ROW_GROUP_ROWS,
        )
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
