"""The first look at a symbol over a window: price change, funding now and annualized, OI change,
liquidations by side.

Pure: store frames in (instants as ``Datetime("ms", "UTC")``), one summary row out.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from perpscope.metrics.funding import rate_apr, settled


@dataclass(frozen=True)
class SymbolSummary:
    """Summary of one symbol over ``[start_ms, end_ms)``; ``None`` where the store has no data.

    Attributes
    ----------
    price_open, price_close : float
        First open and last close of the window's candles, quote currency.
    price_change : float
        ``close / open − 1`` (fraction).
    funding_rate, funding_interval_ms : float, int
        The last settlement in the window (sampled rates are not settlements and are left out): rate
        per interval, and that interval.
    funding_apr : float
        That rate annualized (simple): ``rate × year / interval``.
    funding_mean_apr : float
        Mean over the window's settlements of each settlement's APR.
    oi_usd_start, oi_usd_end : float
        Open interest (USD) at the first and last snapshot in the window.
    oi_change : float
        ``oi_usd_end / oi_usd_start − 1`` (fraction).
    oi_base_change : float
        The same in base units: separates new positions from price revaluation.
    liq_long_usd, liq_short_usd : float
        Liquidated USD of long and short positions in the window (events and bar totals).
    """

    canonical: str
    start_ms: int
    end_ms: int
    price_open: float | None = None
    price_close: float | None = None
    price_change: float | None = None
    funding_rate: float | None = None
    funding_interval_ms: int | None = None
    funding_apr: float | None = None
    funding_mean_apr: float | None = None
    oi_usd_start: float | None = None
    oi_usd_end: float | None = None
    oi_change: float | None = None
    oi_base_change: float | None = None
    liq_long_usd: float | None = None
    liq_short_usd: float | None = None


def summarize(
    canonical: str,
    start_ms: int,
    end_ms: int,
    candles: pl.DataFrame,
    funding: pl.DataFrame,
    open_interest: pl.DataFrame,
    liquidations: pl.DataFrame,
    liquidation_totals: pl.DataFrame,
) -> SymbolSummary:
    """Summarize one symbol; each frame holds that symbol's rows (any range; the window is applied here).

    ``candles`` should hold one series (one interval of trade candles).
    """
    out: dict[str, object] = {"canonical": canonical, "start_ms": start_ms, "end_ms": end_ms}
    c = _window(candles, start_ms, end_ms).sort("ts_ms")
    if c.height:
        o, cl = float(c["open"][0]), float(c["close"][-1])
        out.update(price_open=o, price_close=cl, price_change=cl / o - 1.0)
    f = _window(settled(funding), start_ms, end_ms).sort("ts_ms")  # payments only, not sampled rates
    if f.height:
        last = f.row(-1, named=True)
        apr = f.select(rate_apr(pl.col("rate"), pl.col("interval_ms").cast(pl.Float64))).to_series()
        out.update(
            funding_rate=float(last["rate"]),
            funding_interval_ms=int(last["interval_ms"]),
            funding_apr=float(apr[-1]),
            funding_mean_apr=float(apr.mean()),  # type: ignore[arg-type]
        )
    oi = _window(open_interest, start_ms, end_ms)
    if oi.height:
        # the finest sampling present gives the closest first/last snapshot
        oi = oi.filter(pl.col("interval_ms") == oi["interval_ms"].min()).sort("ts_ms")
        usd = oi["oi_usd"].drop_nulls()
        if usd.len() >= 1:
            out.update(oi_usd_start=float(usd[0]), oi_usd_end=float(usd[-1]))
            if usd[0]:
                out["oi_change"] = float(usd[-1]) / float(usd[0]) - 1.0
        base = oi["oi_base"].drop_nulls()
        if base.len() >= 2 and base[0]:
            out["oi_base_change"] = float(base[-1]) / float(base[0]) - 1.0
    liq = _window(liquidations, start_ms, end_ms)
    tot = _window(liquidation_totals, start_ms, end_ms)
    if liq.height or tot.height:
        long_usd = float(liq.filter(pl.col("side") == "long")["notional_usd"].sum()) if liq.height else 0.0
        short_usd = float(liq.filter(pl.col("side") == "short")["notional_usd"].sum()) if liq.height else 0.0
        if tot.height and not liq.height:  # never add bar totals to events of the same liquidations
            long_usd, short_usd = float(tot["long_usd"].sum()), float(tot["short_usd"].sum())
        out.update(liq_long_usd=long_usd, liq_short_usd=short_usd)
    return SymbolSummary(**out)  # type: ignore[arg-type]


def _window(df: pl.DataFrame, start_ms: int, end_ms: int) -> pl.DataFrame:
    if df.is_empty():
        return df
    t = pl.col("ts_ms").dt.epoch("ms")
    return df.filter((t >= start_ms) & (t < end_ms))
