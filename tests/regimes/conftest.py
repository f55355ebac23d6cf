"""Fixtures for the regime tests: hand-built panels whose numbers are chosen so the definitions in
docs/regimes.md decide the label, and the real BTC panel built from ``../shared/data`` through the store.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from perpscope.core.time import HOUR_MS, parse_time_ms

STEP = 4 * HOUR_MS
T0 = parse_time_ms("2025-01-01")
TS = pl.Datetime("ms", "UTC")

PanelMaker = Callable[..., pl.DataFrame]


def make_panel(
    close: list[float] | np.ndarray,
    *,
    oi: list[float] | np.ndarray | None = None,
    funding: list[float] | np.ndarray | float | None = None,
    liq_long: list[float] | np.ndarray | float | None = None,
    liq_short: list[float] | np.ndarray | float | None = None,
    ls: list[float] | np.ndarray | float | None = None,
    canonical: str = "BTC-USDT-PERP",
    step: int = STEP,
) -> pl.DataFrame:
    """A panel with the columns build_panel gives, one 4h bar per value of ``close``."""
    n = len(close)

    def col(x: list[float] | np.ndarray | float | None) -> np.ndarray | None:
        if x is None:
            return None
        return np.full(n, float(x)) if np.isscalar(x) else np.asarray(x, dtype=float)  # type: ignore[arg-type]

    data: dict[str, object] = {
        "venue": "binance",
        "canonical": canonical,
        "ts_ms": T0 + np.arange(n, dtype=np.int64) * step,
        "interval_ms": step,
        "close": np.asarray(close, dtype=float),
        "high": np.asarray(close, dtype=float) * 1.001,
        "low": np.asarray(close, dtype=float) * 0.999,
    }
    for name, x in (
        ("oi_base", oi),
        ("funding_rate_8h", funding),
        ("liq_long_usd", liq_long),
        ("liq_short_usd", liq_short),
        ("ls_global_accounts", ls),
    ):
        v = col(x)
        if v is not None:
            data[name] = v
    df = pl.DataFrame(data).with_columns(pl.col("ts_ms").cast(TS))
    if "liq_long_usd" in df.columns:
        df = df.with_columns(pl.lit(False).alias("liq_burst"))
    return df


@pytest.fixture
def panel_of() -> PanelMaker:
    return make_panel


SHARED_FILES_LAST = ["binance_um_klines_leopoldlj/BTCUSDT_perp_4h_20191001_20260210.csv.gz"]
SHARED_FILES = [
    "coinglass_liquidity_report/taker_volume_BTC_ETH_SOL_XRP.csv.gz",
    "coinglass_liquidity_report/open_interest_by_exchange_4h_BTC_ETH_SOL_XRP.csv.gz",
    "coinglass_liquidity_report/liquidations_binance_4h_BTC_ETH_SOL_XRP.csv.gz",
    "coinglass_liquidity_report/funding_rate_by_exchange_8h_BTC_ETH_pct.csv.gz",
    "coinglass_liquidity_report/binance_BTCUSDT_4h_price_ls_ratios_orderbook_taker.csv.gz",
]


@pytest.fixture
def btc_store(shared_data: Path, tmp_path: Path) -> object:
    """A store holding Binance BTC 4h price, CoinGlass's Binance OI, liquidations, sampled funding,
    spot taker volume and long/short ratios.

    LeopoldLj's klines (with taker volume) are imported last: the newest write wins, so they replace
    CoinGlass's copy of the same bars, which lacks taker volume."""
    from perpscope.ingest.importer import import_paths
    from perpscope.store import Lake

    lake = Lake(tmp_path / "btc-data")
    for files in (SHARED_FILES, SHARED_FILES_LAST):
        rep = import_paths([shared_data / f for f in files], lake)
        assert not rep.failed, rep.failed
    return lake


@pytest.fixture
def btc_frames() -> Callable[[object, str, str], dict[str, pl.DataFrame]]:
    return _btc_frames


def _btc_frames(lake: object, start: str, end: str) -> dict[str, pl.DataFrame]:
    """Record frames of Binance BTC between two dates, CoinGlass's per-coin (BTC-AGG-PERP) OI,
    liquidations and funding relabelled as BTC-USDT-PERP: BTCUSDT is the bulk of Binance's BTC perps."""
    from perpscope.store.reader import read

    lo, hi = parse_time_ms(start), parse_time_ms(end)

    def agg(record: str) -> pl.DataFrame:
        f = read(lake, record, venue="binance", symbol="BTC-AGG-PERP", start_ms=lo, end_ms=hi)  # type: ignore[arg-type]
        return f.with_columns(pl.lit("BTC-USDT-PERP").alias("canonical"))

    return {
        "candles": read(lake, "candles", venue="binance", symbol="BTC-USDT-PERP", start_ms=lo, end_ms=hi),  # type: ignore[arg-type]
        "taker_volume": read(
            lake,
            "taker_volume",
            venue="binance",
            symbol="BTC-USDT-SPOT",
            market="spot",
            start_ms=lo,
            end_ms=hi,
        ),  # type: ignore[arg-type]
        "open_interest": agg("open_interest"),
        "liquidation_totals": agg("liquidation_totals"),
        "funding": agg("funding"),
        "long_short_ratios": read(
            lake, "long_short_ratios", venue="binance", symbol="BTC-USDT-PERP", start_ms=lo, end_ms=hi
        ),  # type: ignore[arg-type]
    }
