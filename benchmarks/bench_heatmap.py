"""Heatmap benchmarks: one year of 5-minute BTC bars (105,120) into a 2,000-bin grid.

Targets (issue 14): < 0.1 s on one core for the model run over one year of 5-minute bars × 2,000 bins
(numba kernel, compile cached and excluded; netting windows and commit bars included), < 1 s including
``model_inputs`` from records, and ≥ 100× faster per bar than the readable reference kernel (timed on a
slice, interleaved with the compiled run in this process: ``best_of_each``). Inputs are a seeded random
walk (synthetic values; only their shape and magnitudes matter to throughput) with open interest
drifting around 80k BTC.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from benchmarks.common import T0, Result, best_of_each, random_walk_klines
from perpscope.heatmap import OIChangeModel, default_grid, model_inputs, run_model

YEAR_5M = 365 * 288  # 105,120 bars
REF_BARS = 5_000


def year_of_records(n: int = YEAR_5M) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Candles and open interest records of one synthetic year of 5m bars."""
    k = random_walk_klines(n, step_ms=300_000, seed=5)
    ts = pl.Series(k["open_time"]).cast(pl.Datetime("ms", "UTC"))
    candles = pl.DataFrame(
        {
            "venue": "binance",
            "symbol": "BTCUSDT",
            "canonical": "BTC-USDT-PERP",
            "market": "perp",
            "price_type": "trade",
            "interval_ms": 300_000,
            "ts_ms": ts,
            "open": k["open"],
            "high": k["high"],
            "low": k["low"],
            "close": k["close"],
            "volume_base": k["volume"],
            "volume_quote": k["quote_volume"],
            "taker_buy_base": k["taker_buy_volume"],
        }
    )
    rng = np.random.default_rng(3)
    oi = 80_000 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_interest = pl.DataFrame(
        {
            "venue": "binance",
            "symbol": "BTCUSDT",
            "canonical": "BTC-USDT-PERP",
            "interval_ms": 300_000,
            "ts_ms": pl.Series(T0 + 300_000 * (np.arange(n) + 1)).cast(pl.Datetime("ms", "UTC")),
            "oi_base": oi,
            "oi_usd": oi * k["close"].to_numpy(),
        }
    )
    return candles, open_interest


def year_of_bars(n: int = YEAR_5M) -> pl.DataFrame:
    return model_inputs(*year_of_records(n))


def run() -> list[Result]:
    candles, oi = year_of_records()
    bars = model_inputs(candles, oi)
    model = OIChangeModel()
    grid = default_grid(bars, model, n_bins=2000)
    run_model(model, bars.head(100), grid=grid)  # load the cached compilation
    part = bars.head(REF_BARS)
    t_full, t_fast, t_all = best_of_each(
        [
            lambda: run_model(model, bars, grid=grid),
            lambda: run_model(model, part, grid=grid),
            lambda: run_model(model, model_inputs(candles, oi), grid=grid),
        ],
        repeat=3,
    )
    (t_ref,) = best_of_each([lambda: run_model(model, part, grid=grid, engine="reference")], repeat=1)
    per_bar_ref = t_ref / REF_BARS
    per_bar_fast = t_full / bars.height
    return [
        Result(
            f"heatmap oi-change incl. model_inputs from records ({bars.height:,} bars)",
            t_all,
            "s",
            target="< 1 s",
        ),
        Result(
            f"heatmap oi-change: 1 year of 5m bars ({bars.height:,}) × 2,000 bins",
            t_full,
            "s",
            "reference kernel, per bar",
            per_bar_ref / per_bar_fast,
            "< 0.1 s, ≥ 100×",
        ),
        Result(
            f"heatmap oi-change: {REF_BARS:,} bars, numba vs reference",
            t_fast,
            "s",
            "reference kernel, same bars",
            t_ref / t_fast,
            "≥ 100×",
        ),
    ]


if __name__ == "__main__":
    for r in run():
        print(r.line())
