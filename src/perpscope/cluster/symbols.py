"""``--symbols``: which (venue, perp) partitions a batch covers — a list, a glob, or ``all``."""

from __future__ import annotations

import fnmatch
import re

from perpscope.records import market_of
from perpscope.store import Lake

_ALNUM = re.compile(r"[^A-Z0-9]")


def select_symbols(lake: Lake, spec: str, venue: str | None = None) -> list[tuple[str, str]]:
    """(venue, canonical) perp partitions of the lake's candles that ``spec`` names, sorted.

    ``spec`` is ``all``, or comma-separated names or globs matched against the canonical symbol
    (``BTC-USDT-PERP``, ``*-USDT-PERP``) or the venue's spelling (``BTCUSDT``, ``SOL*``), case-insensitive.
    ``venue`` (one venue; ``all`` or None: every venue) narrows the partitions.
    """
    wanted = [p.strip().upper() for p in spec.split(",") if p.strip()]
    out = []
    for v, canon in lake.partitions("candles"):
        if market_of(canon) != "perp" or (venue not in (None, "all") and v != venue):
            continue
        base, quote, _ = canon.split("-", 2)
        names = (canon.upper(), base + quote)
        if "ALL" in wanted or any(fnmatch.fnmatchcase(n, w) for w in wanted for n in names):
            out.append((v, canon))
    return sorted(out)
