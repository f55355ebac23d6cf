"""The regime and cascade views: models that do not apply to every symbol and range.

Each answers ``{"available": False, "reason": ...}`` only for the named cases where its model does not
apply (no bars in the range; a store without what the cascade needs, :class:`StoreInputError`; an
instant before the venue's first margin-bracket table, :class:`BracketError`),
so the dashboard hides the panel and says why. Any other error (a damaged store file, a bug) propagates
and the request fails with a message: a broken store must not look like a symbol without a panel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from perpscope.assemble import StoreInputError
from perpscope.assemble.regime_reading import RegimeReading
from perpscope.core.format import json_safe
from perpscope.core.palette import REGIME_COLOURS
from perpscope.heatmap import BracketError

#: Fields of the latest bar's reading the band sends (``perpscope regimes``' "Current reading" table).
NOW_FIELDS = ("regime", "evidence", "flow_evidence", "leader", "treadmill_cycles", "breakers_engaged")


def regimes_view(rr: RegimeReading) -> dict[str, Any]:
    """Regime episodes of the range (:meth:`RegimeReading.episodes
    <perpscope.assemble.regime_reading.RegimeReading.episodes>`, labels read with the warm-up before the
    range): ``start_ms, end_ms`` (int ms), ``regime, evidence`` per episode; ``now``: the latest bar's
    reading (``ts_ms``, ``since_ms`` int ms; :data:`NOW_FIELDS`, with the flows evidence); and
    ``colours``: the colour of each label, the same everywhere."""
    if rr.bars().is_empty():
        return {"available": False, "reason": "no bars in this range"}
    runs = rr.episodes().select(
        pl.col("start_ms").dt.epoch("ms"), pl.col("end_ms").dt.epoch("ms"), "regime", "evidence"
    )
    now = rr.now()
    now = now.with_columns(
        pl.col(c).dt.epoch("ms") for c in ("ts_ms", "since_ms") if now.schema[c].is_temporal()
    )
    keep = [c for c in ("ts_ms", "since_ms", *NOW_FIELDS) if c in now.columns]
    return {
        "available": True,
        "runs": runs.to_dicts(),
        "now": json_safe(now.select(keep).row(0, named=True)),
        "colours": REGIME_COLOURS,
    }


#: Computes the cascade fragility table for ``(venue, canonical, end_ms)``; given by the composition root
#: (``perpscope serve``/``report``), which knows how to build position books and liquidity from a store.
#: It raises :class:`~perpscope.assemble.StoreInputError` when the store lacks what the model needs and
#: :class:`~perpscope.heatmap.BracketError` before the venue's first margin-bracket table.
CascadeProvider = Callable[[str, str, int], pl.DataFrame]


def cascade_view(provider: CascadeProvider | None, venue: str, canonical: str, end_ms: int) -> dict[str, Any]:
    """The cascade fragility curve at ``end_ms``: numeric columns sorted by shock (first = ``shock_pct``)."""
    if provider is None:
        return {"available": False, "reason": "no cascade model configured for this server"}
    try:
        out = provider(venue, canonical, end_ms)
    except (StoreInputError, BracketError) as e:
        # the store lacks the candles, books or liquidity the model needs, or the instant predates the
        # venue's published margin brackets (liquidation prices cannot be placed)
        return {"available": False, "reason": f"no cascade fragility curve: {e}"}
    if not isinstance(out, pl.DataFrame) or out.is_empty():
        return {"available": False, "reason": "the fragility curve returned no rows"}
    if "shock_pct" in out.columns:
        out = out.sort("shock_pct")
        keep = ["shock_pct", *[c for c in ("liq_usd_p10", "liq_usd_p50", "liq_usd_p90") if c in out.columns]]
        out = out.select(keep)
    num = [c for c, t in out.schema.items() if t.is_numeric()]
    return {"available": True, "columns": {c: out.get_column(c).fill_nan(None).to_list() for c in num}}
