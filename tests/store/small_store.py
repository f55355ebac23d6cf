"""A small store of known content for the store's summary and coverage tests: BTC on binance (perp 5m
+ 1h in one file, spot 1d, funding 8h→4h), BTC OI on bybit with a hole, ETH candles and liquidations on
binance."""

from __future__ import annotations

import polars as pl

from perpscope.core.time import DAY_MS, HOUR_MS, MINUTE_MS
from perpscope.records import CANDLES, FUNDING, LIQUIDATIONS, OPEN_INTEREST
from perpscope.store import Lake

T0 = 1759708800000  # 2025-10-06 00:00 UTC
JAN_2024 = 1704067200000  # 2024-01-01 00:00 UTC


def bars(
    ts: list[int], step_ms: int, canonical: str = "BTC-USDT-PERP", venue: str = "binance"
) -> pl.DataFrame:
    base, quote, _ = canonical.split("-")
    return pl.DataFrame(
        {
            "venue": venue,
            "symbol": base + quote,
            "canonical": canonical,
            "market": "spot" if canonical.endswith("SPOT") else "perp",
            "price_type": "trade",
            "interval_ms": step_ms,
            "ts_ms": ts,
            "open": 1.0,
            "high": 2.0,
            "low": 0.5,
            "close": 1.5,
        }
    )


def grid(start: int, n: int, step: int, skip: tuple[int, ...] = ()) -> list[int]:
    return [start + i * step for i in range(n) if i not in skip]


def open_interest(ts: list[int], step_ms: int, venue: str = "bybit") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "venue": venue,
            "symbol": "BTCUSDT",
            "canonical": "BTC-USDT-PERP",
            "interval_ms": step_ms,
            "ts_ms": ts,
            "oi_base": 10.0,
            "oi_usd": 1e6,
        }
    )


def liquidations(ts: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "venue": "binance",
            "symbol": "ETHUSDT",
            "canonical": "ETH-USDT-PERP",
            "ts_ms": ts,
            "side": "long",
            "price": [2000.0 + i for i in range(len(ts))],
            "qty_base": 1.0,
            "notional_usd": 2000.0,
        }
    )


def fill_small(lake: Lake) -> Lake:
    """BTC on binance (perp 5m + 1h in one file, spot 1d, funding 8h→4h), BTC OI on bybit with a
    hole, ETH candles and liquidations on binance."""
    lake.write(CANDLES, bars(grid(T0, 24, 5 * MINUTE_MS), 5 * MINUTE_MS))  # 2025-10-06 00:00 → 01:55
    lake.write(CANDLES, bars(grid(T0, 48, HOUR_MS, skip=(10,)), HOUR_MS))  # one hour missing
    lake.write(CANDLES, bars(grid(JAN_2024, 3, DAY_MS), DAY_MS, canonical="BTC-USDT-SPOT"))
    funding = pl.DataFrame(
        {
            "venue": "binance",
            "symbol": "BTCUSDT",
            "canonical": "BTC-USDT-PERP",
            "ts_ms": [T0, T0 + 8 * HOUR_MS, T0 + 16 * HOUR_MS, T0 + 20 * HOUR_MS, T0 + 24 * HOUR_MS],
            "rate": 0.0001,
            "interval_ms": [8 * HOUR_MS, 8 * HOUR_MS, 8 * HOUR_MS, 4 * HOUR_MS, 4 * HOUR_MS],
        }
    )
    lake.write(FUNDING, funding)
    lake.write(OPEN_INTEREST, open_interest(grid(T0, 10, HOUR_MS, skip=(4, 5)), HOUR_MS))
    lake.write(CANDLES, bars(grid(T0, 6, HOUR_MS), HOUR_MS, canonical="ETH-USDT-PERP"))
    lake.write(LIQUIDATIONS, liquidations([T0 + 123, T0 + DAY_MS * 40]))  # two month files
    return lake
