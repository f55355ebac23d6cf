"""OKX trading statistics ("rubik") payloads → records (pure): open-interest history, long/short
ratios, taker volume. Each answer is ``data: [[ts, ...], ...]``, newest first; ``ts`` is the period's
start (OKX stamps statistics like its candles). Payload shapes and documentation links: the "Rubik
statistics" entries of :mod:`perpscope.venues.okx.wire`.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from perpscope.records import (
    LONG_SHORT_RATIOS,
    OPEN_INTEREST,
    TAKER_VOLUME,
    LongShortRatio,
    OpenInterest,
    TakerVolume,
)
from perpscope.records.derivatives import RatioKind
from perpscope.venues import payloads
from perpscope.venues.okx.wire import OkxInstrument, envelope_data
from perpscope.venues.payloads import WireError


def _f(x: Any) -> float:
    return float(x)


def parse_oi_history(obj: Any, inst: OkxInstrument, period_ms: int) -> pl.DataFrame:
    """Rubik ``[ts, oi, oiCcy, oiUsd]`` → open interest (contracts converted to base; USD as given)."""
    out = []
    for i, r in enumerate(envelope_data(obj)):
        try:
            base = _f(r[2]) if inst.inverse else inst.base_qty(_f(r[1]))
            usd = _f(r[3])  # OKX's own USD value
            out.append(
                payloads.record(
                    OpenInterest,
                    inst.series,
                    interval_ms=period_ms,
                    ts_ms=int(r[0]),
                    oi_base=base,
                    oi_usd=usd,
                )
            )
        except (IndexError, TypeError, ValueError) as exc:
            raise WireError(
                f"open-interest-history row {i}: expected [ts, oi, oiCcy, oiUsd], got {r!r}"
            ) from exc
    return OPEN_INTEREST.from_records(sorted(out, key=lambda o: o.ts_ms))


def parse_ratio(obj: Any, inst: OkxInstrument, kind: RatioKind, period_ms: int) -> pl.DataFrame:
    """Rubik ``[ts, ratio]`` → long/short ratios of ``kind`` (shares are not published: left null)."""

    def ratio(r: list[Any]) -> LongShortRatio:  # [ts, ratio]
        ts, value = int(r[0]), _f(r[1])
        return payloads.record(
            LongShortRatio, inst.series, kind=kind, interval_ms=period_ms, ts_ms=ts, ratio=value
        )

    out = payloads.each_row(envelope_data(obj), ratio, kind)
    return LONG_SHORT_RATIOS.from_records(sorted(out, key=lambda o: o.ts_ms))


def parse_taker_volume(obj: Any, inst: OkxInstrument, period_ms: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rubik ``[ts, sellVol, buyVol]`` (in coin, ``unit=0``) → (taker volume bars, buy/sell ratios).

    ``ts`` is the bar's open (OKX stamps bars at their start); the ratio is filed at the bar's end,
    when it is known.
    """
    vols, ratios = [], []
    for i, r in enumerate(envelope_data(obj)):
        try:
            ts, sell, buy = int(r[0]), _f(r[1]), _f(r[2])
        except (IndexError, TypeError, ValueError) as exc:
            raise WireError(f"taker volume row {i}: expected [ts, sellVol, buyVol], got {r!r}") from exc
        bar = payloads.record(
            TakerVolume, inst.series, interval_ms=period_ms, ts_ms=ts, buy_base=buy, sell_base=sell
        )
        vols.append(bar)
        if sell > 0:
            end = ts + period_ms
            ratios.append(
                payloads.record(
                    LongShortRatio,
                    inst.series,
                    kind="taker_volume",
                    interval_ms=period_ms,
                    ts_ms=end,
                    ratio=buy / sell,
                )
            )
    vols.sort(key=lambda v: v.ts_ms)
    ratios.sort(key=lambda v: v.ts_ms)
    return TAKER_VOLUME.from_records(vols), LONG_SHORT_RATIOS.from_records(ratios)
