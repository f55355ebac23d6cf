"""Market view benchmark: what resolving sources, bar lengths and venues costs ``regimes``.

One symbol-year of 5-minute bars (105,120 bars), through what ``perpscope regimes`` computes (labels with
evidence, episodes, treadmill, circuit breakers, reading). Reference: the plain path a single-series
store allows (read candles, OI, funding and liquidation totals once each,
:func:`perpscope.metrics.build_panel`). Measured: :func:`perpscope.assemble.panel.market_panel` on the
same store, then on a store where the same year comes from two sources (an archive with taker flow and
an export without it), at two bar lengths (5m and 1h candles and open interest) and two venues (scope
``all``). Target: resolving adds less than 10% (ratio ≥ 0.91).

``python -m benchmarks.bench_view`` prints the figures.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from benchmarks.common import T0, Result, best_of_each, random_walk_klines
from perpscope.assemble.panel import market_panel, panel_from
from perpscope.records import CANDLES, FUNDING, LIQUIDATION_TOTALS, OPEN_INTEREST
from perpscope.regimes import circuit_breakers, classify, episodes, reading, treadmill
from perpscope.store import Lake
from perpscope.store.reader import read

FIVE_MIN = 300_000
HOUR = 3_600_000
BARS = 365 * 288


def _candles(step: int, n: int, venue: str = "binance") -> pl.DataFrame:
    k = random_walk_klines(n, step_ms=step)
    return pl.DataFrame(
        {
            "venue": venue,
            "symbol": "BTCUSDT",
            "canonical": "BTC-USDT-PERP",
            "market": "perp",
            "price_type": "trade",
            "interval_ms": step,
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


def _oi(step: int, n: int, venue: str, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    base = 80_000 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    return pl.DataFrame(
        {
            "venue": venue,
            "symbol": "BTCUSDT",
            "canonical": "BTC-USDT-PERP",
            "interval_ms": step,
            "ts_ms": T0 + step + np.arange(n, dtype=np.int64) * step,  # known at the end of its period
            "oi_base": base,
            "oi_usd": base * 40_000,
        }
    )


def _funding(venue: str) -> pl.DataFrame:
    n = 365 * 3
    rng = np.random.default_rng(3)
    return pl.DataFrame(
        {
            "venue": venue,
            "symbol": "BTCUSDT",
            "canonical": "BTC-USDT-PERP",
            "ts_ms": T0 + 8 * HOUR + np.arange(n, dtype=np.int64) * 8 * HOUR,
            "rate": rng.normal(1e-4, 5e-5, n),
            "interval_ms": 8 * HOUR,
        }
    )


def _liq(venue: str) -> pl.DataFrame:
    rng = np.random.default_rng(5)
    return pl.DataFrame(
        {
            "venue": venue,
            "symbol": "BTCUSDT",
            "canonical": "BTC-USDT-PERP",
            "interval_ms": FIVE_MIN,
            "ts_ms": T0 + np.arange(BARS, dtype=np.int64) * FIVE_MIN,
            "long_usd": rng.gamma(0.3, 2e5, BARS),
            "short_usd": rng.gamma(0.3, 2e5, BARS),
        }
    )


def _single(root: Path) -> Lake:
    lk = Lake(root)
    lk.write(CANDLES, _candles(FIVE_MIN, BARS), source="archive:binance_klines")
    lk.write(OPEN_INTEREST, _oi(FIVE_MIN, BARS, "binance", 1), source="archive:binance_metrics")
    lk.write(FUNDING, _funding("binance"), source="archive:binance_funding")
    lk.write(LIQUIDATION_TOTALS, _liq("binance"), source="export:vendor:liq")
    return lk


def _mixed(root: Path) -> Lake:
    lk = _single(root)
    no_taker = _candles(FIVE_MIN, BARS).with_columns(
        pl.lit(None, pl.Float64).alias("taker_buy_base"), pl.lit(None, pl.Float64).alias("taker_buy_quote")
    )
    lk.write(CANDLES, no_taker, source="export:vendor:klines_5m")
    lk.write(CANDLES, _candles(HOUR, 365 * 24 + 24 * 30), source="export:vendor:klines_1h")
    lk.write(OPEN_INTEREST, _oi(HOUR, 365 * 24, "binance", 1), source="export:vendor:oi_1h")
    lk.write(OPEN_INTEREST, _oi(FIVE_MIN, BARS, "bybit", 2), source="rest:bybit")
    lk.write(FUNDING, _funding("bybit"), source="rest:bybit")
    lk.write(LIQUIDATION_TOTALS, _liq("bybit"), source="rest:bybit")
    return lk


def _regimes(panel: pl.DataFrame) -> pl.DataFrame:
    """What ``perpscope regimes`` computes from a panel: labels with evidence, episodes, treadmill,
    circuit breakers and the current reading."""
    labels = classify(panel)
    episodes(labels)
    treadmill(labels)
    circuit_breakers(panel)
    reading(panel)
    return labels


def _plain(lk: Lake, end: int) -> pl.DataFrame:
    frames = {
        rec: read(lk, rec, venue="binance", symbol="BTCUSDT", start_ms=T0, end_ms=end, sources="all")
        for rec in ("candles", "open_interest", "funding", "liquidation_totals")
    }
    return _regimes(panel_from(FIVE_MIN, dict(frames)))


def _resolved(lk: Lake, scope: str, end: int) -> pl.DataFrame:
    start = T0 + 30 * 24 * HOUR  # the view reads 30 days of warm-up before the start
    return _regimes(market_panel(lk, scope, "BTCUSDT", start, end, FIVE_MIN).priced)


def run() -> list[Result]:
    end = T0 + BARS * FIVE_MIN
    with tempfile.TemporaryDirectory() as d:
        single, mixed = _single(Path(d) / "single"), _mixed(Path(d) / "mixed")
        assert _resolved(mixed, "all", end).height > 0
        t_plain, t_res, t_one, t_all = best_of_each(
            [
                lambda: _plain(single, end),
                lambda: _resolved(single, "binance", end),
                lambda: _resolved(mixed, "binance", end),
                lambda: _resolved(mixed, "all", end),
            ],
            repeat=5,
        )
    return [
        Result(
            "regimes 1 y 5m, through the market view",
            t_res,
            "s",
            "plain single-series read",
            t_plain / t_res,
            "target ≥ 0.91 (adds < 10%)",
        ),
        Result(
            "regimes 1 y 5m, resolved (2 sources, 2 lengths)",
            t_one,
            "s",
            "plain single-series read",
            t_plain / t_one,
            "",
        ),
        Result(
            "regimes 1 y 5m, resolved, scope all (2 venues)",
            t_all,
            "s",
            "plain single-series read",
            t_plain / t_all,
            "",
        ),
    ]


if __name__ == "__main__":
    for r in run():
        print(r.line())
