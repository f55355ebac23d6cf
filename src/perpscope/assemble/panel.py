"""The metrics panel of one perp from the store: the frames it needs, the per-coin fallback, the build.

:func:`panel_frames` reads every record of the symbol with a look-back before the start so windowed
metrics are warm, falls back to the venue's per-coin aggregate (``BASE-AGG-PERP``, e.g. CoinGlass exports)
for records the pair lacks, and adds the matching spot candles and taker volume. :func:`panel_of` builds
:func:`perpscope.metrics.build_panel` from them; ``perpscope metrics``, ``regimes``, the demo and the API
use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from perpscope.assemble.errors import StoreInputError
from perpscope.core.time import DAY_MS, interval_label
from perpscope.metrics import build_panel
from perpscope.store import Lake, read

#: Records the panel is built from (the store's names).
PANEL_RECORDS: tuple[str, ...] = (
    "candles",
    "funding",
    "open_interest",
    "liquidations",
    "liquidation_totals",
    "taker_volume",
    "long_short_ratios",
)

#: The panel's longest look-back (funding extremes, bursts), read before the start: 30 days in ms.
LOOKBACK_MS = 30 * DAY_MS

#: Span of a panel when no start is given, ms.
DEFAULT_SPAN_MS = 30 * DAY_MS


@dataclass(frozen=True)
class PanelFrames:
    """Frames for one symbol's panel: non-empty frames by record name, and notes on substitutions."""

    canonical: str
    frames: dict[str, pl.DataFrame]
    notes: list[str] = field(default_factory=list)


def agg_symbol(canonical: str) -> str:
    """The venue's per-coin aggregate of a canonical perp: ``BTC-USDT-PERP`` → ``BTC-AGG-PERP``."""
    return f"{canonical.split('-')[0]}-AGG-PERP"


def panel_frames(lk: Lake, venue: str, canonical: str, start_ms: int, end_ms: int) -> PanelFrames:
    """Every :data:`PANEL_RECORDS` frame of ``canonical`` on ``venue`` in ``[start_ms, end_ms)``.

    Records the pair lacks are taken from :func:`agg_symbol` (relabelled to ``canonical``, with a
    note); candles and taker volume of the matching ``-SPOT`` market are appended. Records with no rows
    are left out.
    """
    frames: dict[str, pl.DataFrame] = {}
    notes: list[str] = []
    base = canonical.split("-")[0]
    for rec in PANEL_RECORDS:
        f = read(lk, rec, venue=venue, symbol=canonical, start_ms=start_ms, end_ms=end_ms)
        if f.is_empty() and rec != "candles":
            agg = agg_symbol(canonical)
            f = read(lk, rec, venue=venue, symbol=agg, start_ms=start_ms, end_ms=end_ms)
            if f.height:
                notes.append(f"{rec}: {venue} {agg} (all {base} contracts) used for {canonical}")
                f = f.with_columns(pl.lit(canonical).alias("canonical"))
        if rec in ("candles", "taker_volume"):
            spot_symbol = canonical.replace("-PERP", "-SPOT")
            spot = read(
                lk, rec, venue=venue, symbol=spot_symbol, market="spot", start_ms=start_ms, end_ms=end_ms
            )
            f = pl.concat([f, spot], how="vertical_relaxed") if spot.height else f
        if f.height:
            frames[rec] = f
    return PanelFrames(canonical, frames, notes)


def panel_from(every_ms: int, frames: dict[str, pl.DataFrame | None]) -> pl.DataFrame:
    """:func:`perpscope.metrics.build_panel` at ``every_ms`` of frames keyed by record name (missing or
    ``None`` = not stored)."""
    return build_panel(
        every_ms,
        candles=frames.get("candles"),
        funding=frames.get("funding"),
        open_interest=frames.get("open_interest"),
        liquidations=frames.get("liquidations"),
        liquidation_totals=frames.get("liquidation_totals"),
        taker_volume=frames.get("taker_volume"),
        long_short_ratios=frames.get("long_short_ratios"),
    )


def panel_of(
    lk: Lake, venue: str, symbol: str, start_ms: int | None, end_ms: int | None, every_ms: int
) -> tuple[pl.DataFrame, list[str]]:
    """The panel of ``symbol`` on ``venue`` over ``[start_ms, end_ms)`` at ``every_ms`` bars, and notes on
    what was substituted (see :func:`panel_frames`).

    Defaults: ``end_ms`` one bar after the last stored candle, ``start_ms`` 30 days before ``end_ms``.

    Raises
    ------
    StoreInputError
        When the store holds no candles for the symbol, or the panel cannot be built at ``every_ms``.
    """
    candles = read(lk, "candles", venue=venue, symbol=symbol, end_ms=end_ms)
    if candles.is_empty():
        raise StoreInputError(
            f"no candles for {symbol} on {venue} in the store; "
            "import some (perpscope import) or check the name"
        )
    canon = str(candles["canonical"][0])
    hi = end_ms if end_ms is not None else int(candles["ts_ms"].dt.epoch("ms").max()) + every_ms  # type: ignore[arg-type]
    lo = start_ms if start_ms is not None else hi - DEFAULT_SPAN_MS
    pf = panel_frames(lk, venue, canon, lo - LOOKBACK_MS, hi)
    try:
        panel = panel_from(every_ms, dict(pf.frames))
    except ValueError as e:
        raise StoreInputError(f"cannot build the panel of {canon} at {interval_label(every_ms)}: {e}") from e
    cut = panel.filter(pl.col("ts_ms").dt.epoch("ms").is_between(lo, hi - 1)).filter(
        pl.col("canonical") == canon
    )
    return cut, pf.notes
