"""Store benchmarks: read one year of 1-minute candles for one symbol (target < 0.2 s)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import polars as pl

from benchmarks.common import T0, Result, best_of, random_walk_klines
from perpscope.records import CANDLES
from perpscope.store import Lake
from perpscope.store.reader import read

YEAR_MINUTES = 365 * 24 * 60


def year_of_candles() -> pl.DataFrame:
    k = random_walk_klines(YEAR_MINUTES)
    return pl.DataFrame(
        {
            "venue": "binance",
            "symbol": "BTCUSDT",
            "canonical": "BTC-USDT-PERP",
            "market": "perp",
            "price_type": "trade",
            "interval_ms": 60_000,
            "ts_ms": k["open_time"],
            "open": k["open"],
            "high": k["high"],
            "low": k["low"],
            "close": k["close"],
            "volume_base": k["volume"],
            "volume_quote": k["quote_volume"],
            "trades": k["count"],
            "taker_buy_base": k["taker_buy_volume"],
            "taker_buy_quote": k["taker_buy_quote_volume"],
        }
    )


def run() -> list[Result]:
    out = []
    with tempfile.TemporaryDirectory() as d:
        lake = Lake(Path(d) / "data")
        df = year_of_candles()
        lake.write(CANDLES, df)
        csv = Path(d) / "year.csv"
        df.with_columns(pl.col("ts_ms")).write_csv(csv)
        end = T0 + YEAR_MINUTES * 60_000
        n = read(lake, "candles", symbol="BTCUSDT", start_ms=T0, end_ms=end).height
        assert n == YEAR_MINUTES, n
        t_store = best_of(lambda: read(lake, "candles", symbol="BTCUSDT", start_ms=T0, end_ms=end), repeat=5)
        t_pandas = best_of(lambda: pd.read_csv(csv), repeat=2)
        out.append(
            Result(
                "store read: 1 year of 1m candles (525,600 rows)",
                t_store,
                "s",
                "pandas.read_csv of the same rows",
                t_pandas / t_store,
                "target < 0.2 s",
            )
        )
    return out
