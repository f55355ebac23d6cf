"""What the API reads: the store's symbols and record frames, behind a small cache that notices new data.

:class:`DataSource` is created once per server (held by the app, not by the module) and answers from
its cache while the store's files are unchanged; a collector writing to the same data directory changes
the files' sizes or modification times, which changes :meth:`DataSource.version` and empties the cache.

On an ``s3://`` lake the same cache applies, keyed by the lake's own fingerprint
(:meth:`perpscope.store.object_lake.ObjectLake.fingerprint`: the newest manifest of every partition,
which every commit replaces); it costs a LIST per partition, so it is looked at every
:data:`OBJECT_VERSION_TTL_S` seconds rather than every second — new data shows within that time. The
rows themselves are read from the objects on each computation that is not cached (no local copy).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import polars as pl

from perpscope.api.answer_cache import DEFAULT_BYTES, DEFAULT_COMPUTING, DEFAULT_ENTRIES, AnswerCache
from perpscope.api.params import ApiError
from perpscope.assemble import StoreInputError
from perpscope.assemble.records import coverage, stored_records
from perpscope.assemble.scope import Scope
from perpscope.assemble.view import resolve_canonical
from perpscope.store import Lake
from perpscope.store.live_log import fingerprint_entries
from perpscope.store.object_lake import ObjectLake

T = TypeVar("T")

#: Seconds an ``s3://`` lake's fingerprint is reused (:attr:`DataSource.version_ttl_s`).
OBJECT_VERSION_TTL_S = 30.0

#: Records the API serves (the same names as the store's).
SERVED_RECORDS: tuple[str, ...] = (
    "candles",
    "funding",
    "open_interest",
    "liquidations",
    "liquidation_totals",
    "long_short_ratios",
    "taker_volume",
)


@dataclass
class DataSource:
    """The store behind the API, with a bounded cache of computed answers that coalesces identical
    concurrent requests (:class:`~perpscope.api.answer_cache.AnswerCache`).

    Parameters
    ----------
    lake : Lake
        The store (read only: nothing here writes).
    cache_bytes, cache_entries : int
        Bounds of the cache: measured bytes of the kept answers, and their number.
    computing : int
        Computations (one view of one symbol and range) running at once; further requests wait.
    version_ttl_s : float
        How long a store fingerprint is reused before the files are looked at again (seconds): bounds
        the cost of many requests per second, and how late new data shows.
    """

    lake: Lake
    cache_bytes: int = DEFAULT_BYTES
    cache_entries: int = DEFAULT_ENTRIES
    computing: int = DEFAULT_COMPUTING
    version_ttl_s: float = 1.0
    _cache: AnswerCache = field(init=False, repr=False)
    _version: tuple[float, str] = field(default=(0.0, ""), repr=False)
    _version_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._cache = AnswerCache(self.cache_bytes, self.cache_entries, self.computing)

    @property
    def cache(self) -> AnswerCache:
        """The answer cache (its bounds and what it holds)."""
        return self._cache

    # -- change detection ------------------------------------------------------------------------
    def version(self) -> str:
        """A short fingerprint of the store's files (names, sizes, mtimes): changes when data arrives.

        Reused for :attr:`version_ttl_s` seconds after it is computed; a new fingerprint empties the
        cache (answers of the old files are never asked for again).
        """
        t, v = self._version
        if v and time.monotonic() - t < self.version_ttl_s:
            return v
        # one request looks at the files (a few thousand stats, ~0.2 s); the others meanwhile answer with
        # the fingerprint they have instead of all statting at once (50 at once took 10 s of CPU)
        if not self._version_lock.acquire(blocking=not v):
            return v
        try:
            t, v = self._version
            if v and time.monotonic() - t < self.version_ttl_s:
                return v
            new = self._fingerprint()
            if v and new != v:
                self._cache.clear()
            self._version = (time.monotonic(), new)
            return new
        finally:
            self._version_lock.release()

    def _fingerprint(self) -> str:
        if isinstance(self.lake, ObjectLake):
            return self.lake.fingerprint()
        h = hashlib.blake2b(digest_size=8)
        root = self.lake.root
        if root.is_dir():
            for rec in self.lake.records_present():
                for f in self.lake.month_files(rec):
                    try:
                        st = f.stat()
                    except FileNotFoundError:  # replaced by an atomic rename between glob and stat
                        continue
                    h.update(f"{f.relative_to(root)}:{st.st_size}:{st.st_mtime_ns};".encode())
            h.update(";".join(fingerprint_entries(self.lake)).encode())  # the live log's committed batches
        return h.hexdigest()

    def cached(self, key: tuple[Any, ...], make: Callable[[], T]) -> T:
        """``make()`` once per ``key`` and store version, identical concurrent calls computed once;
        later calls answer from the cache while it holds the answer."""
        return self._cache.get((self.version(), *key), make)

    # -- catalogue -------------------------------------------------------------------------------
    def coverage(self) -> pl.DataFrame:
        """:func:`perpscope.assemble.records.coverage` of the store (cached per version)."""
        return self.cached(("coverage",), lambda: coverage(self.lake))  # empty for an empty store

    def symbols(self) -> pl.DataFrame:
        """One row per venue and canonical symbol with candles: ``venue, canonical, first_ms, last_ms,
        records`` (the records held for it, comma-separated)."""

        def make() -> pl.DataFrame:
            cov = self.coverage()
            if cov.is_empty():
                return pl.DataFrame(
                    schema={
                        "venue": pl.String,
                        "canonical": pl.String,
                        "first_ms": pl.Int64,
                        "last_ms": pl.Int64,
                        "records": pl.String,
                    }
                )
            recs = cov.group_by("venue", "canonical").agg(
                pl.col("record").unique().sort().str.join(",").alias("records")
            )
            c = (
                cov.filter(pl.col("record") == "candles")
                .group_by("venue", "canonical")
                .agg(pl.col("first_ms").min(), pl.col("last_ms").max())
            )
            return c.join(recs, on=["venue", "canonical"], how="left").sort("venue", "canonical")

        return self.cached(("symbols",), make)

    def _scope_price(self, venue: str, symbol: str) -> tuple[str, str]:
        """(canonical, price venue) of ``symbol`` within the venue scope ``venue`` (``all``, a list)."""
        try:
            return resolve_canonical(self.lake, symbol, Scope.parse(venue))
        except StoreInputError as e:
            raise ApiError(404, str(e)) from e

    def span(self, venue: str, canonical: str) -> tuple[int, int]:
        """First and last candle open of a symbol, ms UTC; for a scope of several
        venues, of its price venue's candles."""
        row = self.symbols().filter((pl.col("venue") == venue) & (pl.col("canonical") == canonical))
        if row.is_empty():
            pv = self._scope_price(venue, canonical)[1]
            row = self.symbols().filter((pl.col("venue") == pv) & (pl.col("canonical") == canonical))
        return int(row["first_ms"][0]), int(row["last_ms"][0])

    # -- records ---------------------------------------------------------------------------------
    def frame(self, record: str, venue: str, canonical: str, start_ms: int, end_ms: int) -> pl.DataFrame:
        """Rows of a served record for one venue and canonical symbol in ``[start, end)``; empty when the
        store holds none."""
        if record not in SERVED_RECORDS:
            raise ApiError(404, f"unknown record {record!r}; served: {', '.join(SERVED_RECORDS)}")
        return stored_records(self.lake, record, venue, canonical, start_ms, end_ms)
