"""Funding-rate conversions.

A funding ``rate`` is a fraction paid per funding interval (0.0001 = 0.01%, longs pay shorts when
positive). Venues settle every 1h, 4h or 8h, so rates are only comparable once normalized.
"""

from __future__ import annotations

import polars as pl

from perpscope.core.time import HOUR_MS, YEAR_MS


def rate_8h(rate: pl.Expr, interval_ms: pl.Expr) -> pl.Expr:
    """Rate normalized to an 8-hour interval: ``rate × 8h / interval``."""
    return rate * (8 * HOUR_MS) / interval_ms


def rate_apr(rate: pl.Expr, interval_ms: pl.Expr) -> pl.Expr:
    """Simple annualized rate (APR): ``rate × intervals per 365-day year``.

    Notes
    -----
    0.0001 per 8h → 0.0001 × 1095 = 0.1095 (10.95% a year). This is what venues and CoinGlass quote.
    """
    return rate * (YEAR_MS / interval_ms)


def rate_apy(rate: pl.Expr, interval_ms: pl.Expr) -> pl.Expr:
    """Compounded annualized rate (APY): ``(1 + rate) ** (intervals per year) − 1``."""
    return (1.0 + rate).pow(YEAR_MS / interval_ms) - 1.0


def with_annualized(funding: pl.DataFrame) -> pl.DataFrame:
    """Add ``rate_8h``, ``rate_apr`` and ``rate_apy`` columns to a funding frame."""
    r, iv = pl.col("rate"), pl.col("interval_ms").cast(pl.Float64)
    return funding.with_columns(
        rate_8h(r, iv).alias("rate_8h"), rate_apr(r, iv).alias("rate_apr"), rate_apy(r, iv).alias("rate_apy")
    )
