"""Funding-settlement microstructure: activity in the minutes around settlements against other full hours.

For each full hour ``H`` of the bars, every bar opening in ``[H − window, H + window)`` is scaled by the
same hour's **reference**: the mean of the bars opening in ``[H − 2·window, H − window)`` (before the
window, so a settlement cannot move its own reference). Settlement hours (default 00, 08, 16 UTC —
Binance BTCUSDT's 8h schedule) are compared with the other full hours (control) offset by offset: mean
of each group, difference and a Welch t interval (hours are the independent units). Control hours
directly before or after a settlement hour are left out (their window or reference would hold
settlement-time bars).

Metrics per bar: ``volume`` (USD) and ``trades`` relative to the reference, the taker-buy share of
volume (not scaled), and ``abs_ret`` = |log(close / open)| relative to the reference (a realized
volatility proxy at the bar's resolution).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl
from scipy import stats as st

from perpscope.core.time import HOUR_MS, MINUTE_MS
from perpscope.evaluate.stats import bh_adjust

#: Binance USDⓈ-M 8-hourly settlement hours (UTC).
SETTLEMENT_HOURS = (0, 8, 16)


def _welch(a: np.ndarray, b: np.ndarray, alpha: float = 0.05) -> tuple[float, float, float, float]:
    """Difference of means ``a − b`` with a Welch t interval and two-sided p-value."""
    if a.size < 2 or b.size < 2:
        return (math.nan, math.nan, math.nan, math.nan)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    d = float(a.mean() - b.mean())
    se = math.sqrt(va + vb)
    if se == 0:
        return (d, d, d, math.nan)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    q = float(st.t.ppf(1 - alpha / 2, df))
    p = float(2 * st.t.sf(abs(d / se), df))
    return (d, d - q * se, d + q * se, p)


def settlement_windows(
    panel: pl.DataFrame,
    window_ms: int = 30 * MINUTE_MS,
    settlement_hours: Sequence[int] = SETTLEMENT_HOURS,
    alpha: float = 0.05,
) -> list[dict[str, object]]:
    """Per offset from the hour and metric: settlement mean, control mean, difference, interval.

    Parameters
    ----------
    panel : polars.DataFrame
        One series of sub-hour bars with ``ts_ms, open, close, volume_usd, trades`` and (if known)
        ``taker_buy_usd``; a bar length dividing the hour.
    window_ms : int
        Half-width of the window around each hour (default 30 minutes).
    settlement_hours : sequence of int
        UTC hours at which funding settles during the data.

    Returns
    -------
    list of dict
        ``metric, offset_min, settle_mean, control_mean, diff, ci_lo, ci_hi, p, n_settle, n_control``
        and ``q``, the Benjamini–Hochberg q-value of ``p`` over every row (all metrics and offsets).
    """
    t = panel.get_column("ts_ms").dt.epoch("ms").to_numpy()
    bar = int(np.min(np.diff(t)[np.diff(t) > 0]))
    if 2 * window_ms > HOUR_MS:
        raise ValueError(f"expected a half-window of at most 30 minutes; found {window_ms // MINUTE_MS} min")
    if HOUR_MS % bar or window_ms % bar or bar >= HOUR_MS:
        raise ValueError(f"expected sub-hour bars dividing the hour and the window; found {bar} ms bars")
    win = _scaled_windows(_bar_metrics(panel, window_ms), window_ms, bar, settlement_hours)
    out = [
        _compare(win, metric, int(off), alpha)
        for metric in ("volume", "trades", "taker_buy_share", "abs_ret")
        for off in sorted(win.get_column("offset_min").unique().to_list())
    ]
    q = bh_adjust([float(r["p"]) for r in out])  # type: ignore[arg-type]
    for r, qi in zip(out, q, strict=True):
        r["q"] = float(qi)
    return out


def _bar_metrics(panel: pl.DataFrame, window_ms: int) -> pl.DataFrame:
    """Per bar: ``t`` (ms), the metrics (``volume`` USD, ``trades``, ``taker_buy_share``, ``abs_ret``),
    the full ``hour`` whose window holds it and its ``offset_min`` from that hour."""
    f = panel.select(
        pl.col("ts_ms").dt.epoch("ms").alias("t"),
        pl.col("volume_usd").cast(pl.Float64).alias("volume"),
        pl.col("trades").cast(pl.Float64).alias("trades"),
        (
            pl.col("taker_buy_usd") / pl.col("volume_usd")
            if "taker_buy_usd" in panel.columns
            else pl.lit(None, pl.Float64)
        ).alias("taker_buy_share"),
        (pl.col("close") / pl.col("open")).log().abs().alias("abs_ret"),
    )
    return f.with_columns(
        ((pl.col("t") + window_ms) // HOUR_MS * HOUR_MS).alias("hour"),
    ).with_columns(((pl.col("t") - pl.col("hour")) // MINUTE_MS).alias("offset_min"))


def _scaled_windows(
    f: pl.DataFrame, window_ms: int, bar: int, settlement_hours: Sequence[int]
) -> pl.DataFrame:
    """The window bars of every hour with a full reference, scaled by it, marked ``settle`` or control;
    control hours next to a settlement hour left out."""
    # window bars: offset in [-window, window); reference bars: offset in [-2 window, -window)
    wmin = window_ms // MINUTE_MS
    ref = (
        f.with_columns(((pl.col("t") + 2 * window_ms) // HOUR_MS * HOUR_MS).alias("hour"))
        .filter(((pl.col("t") - pl.col("hour")) // MINUTE_MS) < -wmin)
        .group_by("hour")
        .agg(
            pl.col("volume").mean().alias("ref_volume"),
            pl.col("trades").mean().alias("ref_trades"),
            pl.col("abs_ret").mean().alias("ref_abs_ret"),
            pl.len().alias("_nref"),
        )
    )
    win = f.filter(pl.col("offset_min").is_between(-wmin, wmin - 1)).join(ref, on="hour", how="inner")
    hod = pl.col("hour").mod(86_400_000).floordiv(HOUR_MS)
    win = win.filter(pl.col("_nref") == window_ms // bar).with_columns(
        (pl.col("volume") / pl.col("ref_volume")).alias("volume"),
        (pl.col("trades") / pl.col("ref_trades")).alias("trades"),
        (pl.col("abs_ret") / pl.col("ref_abs_ret")).alias("abs_ret"),
        hod.is_in(list(settlement_hours)).alias("settle"),
        ((hod + 1) % 24).is_in(list(settlement_hours)).alias("_before"),
        ((hod + 23) % 24).is_in(list(settlement_hours)).alias("_after"),
    )
    # control hours next to a settlement are left out: their reference or window holds settlement bars
    return win.filter(pl.col("settle") | ~(pl.col("_before") | pl.col("_after")))


def _compare(win: pl.DataFrame, metric: str, off: int, alpha: float) -> dict[str, object]:
    """Settlement hours against control hours for one metric at one offset (minutes) from the hour."""
    g = win.filter((pl.col("offset_min") == off) & pl.col(metric).is_finite())
    a = g.filter(pl.col("settle")).get_column(metric).to_numpy()
    b = g.filter(~pl.col("settle")).get_column(metric).to_numpy()
    d, lo, hi, p = _welch(a, b, alpha)
    return {
        "metric": metric,
        "offset_min": off,
        "settle_mean": float(a.mean()) if a.size else math.nan,
        "control_mean": float(b.mean()) if b.size else math.nan,
        "diff": d,
        "ci_lo": lo,
        "ci_hi": hi,
        "p": p,
        "n_settle": int(a.size),
        "n_control": int(b.size),
    }
