"""Which part of the store a question is about: coins, venues, records and symbols, found from folders.

A *coin* is the base of a canonical symbol: ``BTC-USDT-PERP``, ``BTC-AGG-PERP`` and ``BTC-USDT-SPOT``
are all coin ``BTC``. A :class:`Selection` filters the lake's partition folders
(``<record>/venue=<v>/symbol=<canonical>``) before any file is opened, so asking about one coin costs
only that coin's files.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from perpscope.records import RECORDS
from perpscope.records.symbols import compact, is_canonical
from perpscope.store.lake import Lake
from perpscope.store.live_virtual import virtual_parts
from perpscope.store.object_lake import ObjectLake

_ALNUM = re.compile(r"[^A-Z0-9]")


def coin_of(canonical: str) -> str:
    """``"BTC-USDT-PERP"`` → ``"BTC"`` (the base asset; quote and market dropped)."""
    return canonical.split("-", 1)[0]


def _spelling(symbol: str) -> str:
    """A venue's symbol spelling reduced to base and quote run together: ``btc-usdt-swap`` → ``BTCUSDT``."""
    return _ALNUM.sub("", symbol.upper().removesuffix("-SWAP").removesuffix("_PERP"))


@dataclass(frozen=True)
class Selection:
    """Filters over the lake's partitions; an empty filter lets everything through.

    Parameters
    ----------
    coins : frozenset of str
        Bases (``BTC``), matched case-insensitively.
    venues : frozenset of str
        Venue folder names (``binance``, ``binance+bybit+okx``), case-insensitive.
    records : frozenset of str
        Record names (``candles``, ``open_interest``).
    symbols : frozenset of str
        Canonical symbols (``BTC-USDT-PERP``, matched exactly) or venue spellings (``BTCUSDT``,
        matched to every canonical symbol whose base and quote run together equal it, perp and spot).
    """

    coins: frozenset[str] = frozenset()
    venues: frozenset[str] = frozenset()
    records: frozenset[str] = frozenset()
    symbols: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        coins: list[str] | None = None,
        venues: list[str] | None = None,
        records: list[str] | None = None,
        symbols: list[str] | None = None,
    ) -> Selection:
        """A selection from user-typed values (case is normalized)."""
        return cls(
            frozenset(c.strip().upper() for c in coins or ()),
            frozenset(v.strip().lower() for v in venues or ()),
            frozenset(r.strip().lower() for r in records or ()),
            frozenset(s.strip() for s in symbols or ()),
        )

    @property
    def is_everything(self) -> bool:
        return not (self.coins or self.venues or self.records or self.symbols)

    def takes_record(self, record: str) -> bool:
        return not self.records or record in self.records

    def takes_venue(self, venue: str) -> bool:
        return not self.venues or venue.lower() in self.venues

    def takes_symbol(self, canonical: str) -> bool:
        if self.coins and coin_of(canonical).upper() not in self.coins:
            return False
        if not self.symbols:
            return True
        return any(
            canonical == s if is_canonical(s) else compact(canonical) == _spelling(s) for s in self.symbols
        )


@dataclass(frozen=True)
class Partition:
    """One partition folder of the lake and its month files (paths as text, sorted: building 3,000
    ``Path`` objects cost more than listing the folders)."""

    record: str
    venue: str
    canonical: str
    files: tuple[str, ...]

    @property
    def coin(self) -> str:
        return coin_of(self.canonical)


def selected_partitions(lake: Lake, selection: Selection | None = None) -> list[Partition]:
    """Partitions holding at least one month file, in record order (as in ``RECORDS``), venue, symbol.

    Folders are listed with ``os.scandir`` and filtered by name before descending, so a narrow
    selection lists only its own folders.
    """
    sel = selection or Selection()
    out: list[Partition] = []
    if isinstance(lake, ObjectLake):  # no folders to scan: the partitions' newest manifests name the parts
        for record in RECORDS:
            if sel.takes_record(record):
                keep = lambda v, c: sel.takes_venue(v) and sel.takes_symbol(c)  # noqa: E731
                for venue, canon, urls in lake.partition_months(record, keep):
                    out.append(Partition(record, venue, canon, tuple(urls)))
        return out
    for record in RECORDS:
        rdir = lake.record_dir(record)
        if not sel.takes_record(record) or not rdir.is_dir():
            continue
        # months with rows in the live log, as virtual parts (:mod:`perpscope.store.live_log`)
        live = virtual_parts(lake, record)
        found: dict[tuple[str, str], list[str]] = {}
        for venue, vpath in _subdirs(rdir, "venue="):
            if not sel.takes_venue(venue):
                continue
            for canon, spath in _subdirs(vpath, "symbol="):
                if not sel.takes_symbol(canon):
                    continue
                files = [
                    e.path
                    for e in os.scandir(spath)
                    if e.name.endswith(".parquet") and not e.name.startswith(".") and e.is_file()
                ]
                if files:
                    found[(venue, canon)] = files
        for (venue, canon), virtual in live.items():
            if sel.takes_venue(venue) and sel.takes_symbol(canon):
                found.setdefault((venue, canon), []).extend(virtual)
        for (venue, canon), files in sorted(found.items()):
            out.append(Partition(record, venue, canon, tuple(sorted(files))))
    return out


def _subdirs(path: Path | str, prefix: str) -> list[tuple[str, str]]:
    """``(value, path)`` of the ``<prefix><value>`` folders directly under ``path``, sorted by value."""
    found = [
        (e.name[len(prefix) :], e.path) for e in os.scandir(path) if e.name.startswith(prefix) and e.is_dir()
    ]
    return sorted(found)
