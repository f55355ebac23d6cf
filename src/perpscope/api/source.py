"""What the API reads: the store's symbols and record frames, behind a small cache that notices new data.

:class:`DataSource` is created once per server (held by the app, not by the module) and answers from
its cache while the store's files are unchanged; a collector writing to the same data directory changes
the files' sizes or modification times, which changes :meth:`DataSource.version` and empties the cache.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import polars as pl

from perpscope.api.params import ApiError
from perpscope.assemble import StoreInputError
from perpscope.assemble.records import coverage, stored_records
from perpscope.assemble.scope import Scope
from perpscope.assemble.view import resolve_canonical
from perpscope.store import Lake

T = TypeVar("T")

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


def _several(venue: str) -> bool:
    """True for a scope of more than one venue (``all``, ``binance,bybit``); False for one venue or a
    name no scope has."""
    try:
        return Scope.parse(venue).single is None
    except StoreInputError:
        return False


@dataclass
class DataSource:
    """The store behind the API, with a bounded least-recently-used cache of computed answers.

    Parameters
    ----------
    lake : Lake
        The store (read only: nothing here writes).
    cache_size : int
        Answers kept (each is one computed view of one symbol and range).
    version_ttl_s : float
        How long a store fingerprint is reused before the files are looked at again (seconds): bounds
        the cost of many requests per second, and how late new data shows.
    """

    lake: Lake
    cache_size: int = 64
    version_ttl_s: float = 1.0
    _cache: OrderedDict[tuple[Any, ...], Any] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _version: tuple[float, str] = field(default=(0.0, ""), repr=False)

    # -- change detection ------------------------------------------------------------------------
    def version(self) -> str:
        """A short fingerprint of the store's files (names, sizes, mtimes): changes when data arrives.

        Reused for :attr:`version_ttl_s` seconds after it is computed.
        """
        now = time.monotonic()
        t, v = self._version
        if v and now - t < self.version_ttl_s:
            return v
        v = self._fingerprint()
        self._version = (now, v)
        return v

    def _fingerprint(self) -> str:
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
        return h.hexdigest()

    def cached(self, key: tuple[Any, ...], make: Callable[[], T]) -> T:
        """``make()`` once per ``key`` and store version; later calls answer from the cache."""
        full = (self.version(), *key)
        with self._lock:
            if full in self._cache:
                self._cache.move_to_end(full)
                return self._cache[full]
        value = make()
        with self._lock:
            self._cache[full] = value
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return value

    # -- catalogue -------------------------------------------------------------------------------
    def coverage(self) -> pl.DataFrame:
        """:func:`perpscope.assemble.records.coverage` of the store (cached per version)."""
        if not self.lake.root.is_dir():
            return pl.DataFrame()
        return self.cached(("coverage",), lambda: coverage(self.lake))

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

    def resolve(self, venue: str, symbol: str) -> str:
        """The canonical symbol the store holds for ``venue``/``symbol`` (canonical or venue spelling);
        ``venue`` may be a scope of several venues (``all``, ``binance,bybit,okx``), resolved as the
        market view resolves it (:func:`perpscope.assemble.view.resolve_canonical`).

        Raises
        ------
        ApiError
            404 when the venue or symbol is not in the store.
        """
        syms = self.symbols()
        venues = set(syms.get_column("venue").to_list()) if syms.height else set()
        if venues and venue not in venues and _several(venue):
            return self._scope_price(venue, symbol)[0]
        if venue not in venues:
            known = ", ".join(sorted(venues)) or "none (the store is empty)"
            raise ApiError(404, f"unknown venue {venue!r}; venues with candles in the store: {known}")
        canons = syms.filter(pl.col("venue") == venue).get_column("canonical").to_list()
        if symbol in canons:
            return symbol
        spelled = [c for c in canons if c.replace("-", "").removesuffix("PERP") == symbol]
        if spelled:
            return str(spelled[0])
        raise ApiError(
            404,
            f"unknown symbol {symbol!r} for venue {venue!r}; try one of: {', '.join(canons[:20])}"
            + (" …" if len(canons) > 20 else ""),
        )

    def span(self, venue: str, canonical: str) -> tuple[int, int]:
        """First and last candle open of a symbol, ms UTC (after :meth:`resolve`); for a scope of several
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
