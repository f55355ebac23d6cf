"""What the store holds for a symbol, in a sentence: the part of every "nothing here" message that says
what is there instead, and the nearest symbols the store has when a name matches none.

``candles 5m 2025-10-06→2025-10-15, 1h 2025-12-01→2026-03-19; open_interest 4h 2026-02-20→2026-03-20;
funding 2026-01-12→2026-03-20 (binance)``. Dates are UTC days; a range ends at the last stored row.
Read from the store's per-series coverage (:func:`perpscope.store.coverage.coverage_of`): error paths
only, so the scan it costs (well under a second on the whole shared data) is paid when a user needs it.
"""

from __future__ import annotations

import difflib

from perpscope.core.format import date_text
from perpscope.records import compact
from perpscope.store import Lake
from perpscope.store.coverage import coverage_of
from perpscope.store.selection import Selection, selected_partitions


def holdings_text(lk: Lake, canonicals: list[str], limit: int = 8) -> str:
    """What the store holds for ``canonicals`` (a pair and its coin aggregate, say), record by record,
    venues in brackets; ``""`` when nothing."""
    cov = coverage_of(lk, Selection(symbols=frozenset(canonicals)))
    if cov.is_empty():
        return ""
    cov = cov.sort("record", "first_ms")
    parts = []
    for (record,), rows in cov.group_by("record", maintain_order=True):
        spans = [
            f"{'' if r['series'] in ('-', '') else str(r['series']).replace('trade ', '') + ' '}"
            f"{date_text(r['first_ms'], minutes=False)}→{date_text(r['last_ms'], minutes=False)}"
            for r in rows.iter_rows(named=True)
        ]
        venues = ",".join(sorted(set(rows.get_column("venue").to_list())))
        parts.append(f"{record} {', '.join(dict.fromkeys(spans))} ({venues})")
    more = f"; … {len(parts) - limit} more" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more


def nearest_symbols(lk: Lake, text: str, n: int = 3) -> list[str]:
    """Up to ``n`` symbols the store holds (as venues spell perps, ``BTCUSDT``) closest to ``text``."""
    perps = {p.canonical for p in selected_partitions(lk) if p.canonical.endswith("-PERP")}
    spellings = {compact(c): c for c in perps if "-AGG-" not in c}
    want = "".join(ch for ch in text.upper() if ch.isalnum())
    return difflib.get_close_matches(want, list(spellings), n=n, cutoff=0.6)
