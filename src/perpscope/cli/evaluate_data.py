"""Datasets of the built-in studies: the shared real data imported into a temporary store, then a panel.

evaluate/ is pure (it may not import the store or the importer), so the loading lives here, in the
composition root. Every dataset drops the withheld months (2026-01-01 → 2026-03-01, see
``shared/data/SOURCES.md``) whatever the files hold.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from perpscope.assemble.panel import panel_from
from perpscope.core.errors import InputError
from perpscope.core.time import HOUR_MS, MINUTE_MS, parse_time_ms
from perpscope.ingest.importer import import_paths
from perpscope.metrics import build_panel
from perpscope.store import Lake
from perpscope.store.reader import read

#: Rows withheld for out-of-sample judgement of the project (shared/data/SOURCES.md); never used here.
WITHHELD = ("2026-01-01", "2026-03-01")

_KL = "binance_um_klines_leopoldlj"
_CG = "coinglass_liquidity_report"
BTC = "BTC-USDT-PERP"


def _drop_withheld(df: pl.DataFrame, col: str = "ts_ms") -> pl.DataFrame:
    lo, hi = (parse_time_ms(x) for x in WITHHELD)
    t = pl.col(col).dt.epoch("ms")
    return df.filter((t < lo) | (t >= hi))


def _as_btc_binance(df: pl.DataFrame) -> pl.DataFrame:
    """CoinGlass coin-level (``BTC-AGG-PERP``) rows relabelled as the Binance BTCUSDT perp's series."""
    return df.with_columns(
        pl.lit("binance").alias("venue"), pl.lit("BTCUSDT").alias("symbol"), pl.lit(BTC).alias("canonical")
    )


def _import(shared: Path, files: list[str]) -> Lake:
    missing = [f for f in files if not (shared / f).exists()]
    if missing:
        raise InputError(
            str(shared), f"expected the shared data files {missing}", hint="pass --shared PATH/TO/shared/data"
        )
    lake = Lake(Path(tempfile.mkdtemp(prefix="perpscope-eval-")) / "data")
    rep = import_paths([shared / f for f in files], lake)
    if rep.failed:
        raise InputError(str(rep.failed[0].path), f"import failed: {rep.failed[0].error}")
    return lake


def btc_binance_4h(shared: Path, options: dict[str, Any]) -> tuple[pl.DataFrame, list[str]]:
    """Binance BTCUSDT perp on 4h bars, 2019-10 → 2025-12, with derivatives inputs Nov 2024 → Nov 2025."""
    lake = _import(
        shared,
        [
            f"{_KL}/BTCUSDT_perp_1h_20191001_20260210.csv.gz",
            f"{_CG}/funding_rate_by_exchange_8h_BTC_ETH_pct.csv.gz",
            f"{_CG}/liquidations_binance_4h_BTC_ETH_SOL_XRP.csv.gz",
            f"{_CG}/open_interest_aggregated_all_exchanges_4h_BTC_ETH_SOL_XRP.csv.gz",
            f"{_CG}/binance_BTCUSDT_4h_price_ls_ratios_orderbook_taker.csv.gz",
        ],
    )
    candles = read(lake, "candles", venue="binance", symbol=BTC, where={"interval_ms": HOUR_MS})
    # CoinGlass's 8h Binance BTC funding close, stamped at the bar's end, is the rate in force just
    # before the settlement (its hourly values match Binance's settlements with correlation 0.99993,
    # SOURCES.md): used as the settlement.
    funding = _as_btc_binance(read(lake, "funding", venue="binance", symbol="BTC-AGG-PERP")).with_columns(
        pl.lit("settled").alias("kind")
    )
    liq = _as_btc_binance(read(lake, "liquidation_totals", venue="binance", symbol="BTC-AGG-PERP"))
    oi = _as_btc_binance(read(lake, "open_interest", venue="all", symbol="BTC-AGG-PERP"))
    ls = read(lake, "long_short_ratios", venue="binance", symbol=BTC)
    panel = build_panel(
        4 * HOUR_MS,
        candles=_drop_withheld(candles),
        funding=_drop_withheld(funding),
        liquidation_totals=_drop_withheld(liq),
        open_interest=_drop_withheld(oi),
        long_short_ratios=_drop_withheld(ls),
    )
    notes = [
        "price: Binance BTCUSDT perp 1h klines (binance_um_klines_leopoldlj) resampled to 4h bars",
        "funding: CoinGlass Binance BTC 8h funding close (coinglass_liquidity_report), taken as the "
        "Binance settlement at the bar's end (hourly CoinGlass values match Binance settlements, "
        "corr 0.99993)",
        "liquidations: CoinGlass Binance BTC 4h totals (all Binance BTC margin pairs; Binance's feed is "
        "sampled, so sums are lower bounds)",
        "open interest: CoinGlass all-exchange aggregated BTC OI in USD (4h, stamped at its time)",
        "long/short ratios: CoinGlass Binance BTCUSDT 4h ratios, stamped at the bar's end",
        f"withheld rows {WITHHELD[0]} → {WITHHELD[1]} dropped",
    ]
    return panel, notes


def btc_binance_1h(shared: Path, options: dict[str, Any]) -> tuple[pl.DataFrame, list[str]]:
    """Binance BTCUSDT perp 1h klines alone, 2019-10 → 2025-12 (price, volume and taker flow only)."""
    lake = _import(shared, [f"{_KL}/BTCUSDT_perp_1h_20191001_20260210.csv.gz"])
    candles = _drop_withheld(
        read(lake, "candles", venue="binance", symbol=BTC, where={"interval_ms": HOUR_MS})
    )
    notes = ["price: Binance BTCUSDT perp 1h klines (binance_um_klines_leopoldlj)"]
    return build_panel(HOUR_MS, candles=candles), notes


def btc_binance_5m(shared: Path, options: dict[str, Any]) -> tuple[pl.DataFrame, list[str]]:
    """Binance BTCUSDT perp 5m klines: the three shared windows (Aug 2024, Aug 2025, Oct 2025)."""
    files = [
        f"{_KL}/BTCUSDT_perp_5m_20240801_20240810.csv.gz",
        f"{_KL}/BTCUSDT_perp_5m_20250808_20250901.csv.gz",
        f"{_KL}/BTCUSDT_perp_5m_20251006_20251015.csv.gz",
    ]
    lake = _import(shared, files)
    candles = _drop_withheld(
        read(lake, "candles", venue="binance", symbol=BTC, where={"interval_ms": 5 * MINUTE_MS})
    )
    panel = build_panel(5 * MINUTE_MS, candles=candles).filter(pl.col("volume_usd").is_not_null())
    notes = [
        "5-minute Binance BTCUSDT perp klines (binance_um_klines_leopoldlj), the finest resolution in the "
        "shared data: 2024-08-01→08-10, 2025-08-08→09-01, 2025-10-06→10-15 (gaps between windows dropped)"
    ]
    return panel, notes


def lake_dataset(lake: Lake, options: dict[str, Any]) -> tuple[pl.DataFrame, list[str]]:
    """A panel from the user's own store: ``dataset_options = {venue, symbol, every}``."""
    from perpscope.core.time import interval_ms

    venue, symbol = options.get("venue"), options.get("symbol")
    every = interval_ms(str(options.get("every", "1h")))
    frames: dict[str, pl.DataFrame] = {}
    for name in ("candles", "funding", "open_interest", "liquidations", "long_short_ratios", "taker_volume"):
        try:
            frames[name] = read(lake, name, venue=venue, symbol=symbol)
        except Exception:  # a record the store does not hold
            continue
    if frames.get("candles") is None or frames["candles"].height == 0:
        raise InputError(
            str(lake.root), f"expected candles for venue={venue} symbol={symbol} in the store; found none"
        )
    return panel_from(every, dict(frames)), [f"your store: venue={venue}, symbol={symbol}, bars={every} ms"]


SHARED_DATASETS: dict[str, Callable[[Path, dict[str, Any]], tuple[pl.DataFrame, list[str]]]] = {
    "btc_binance_4h": btc_binance_4h,
    "btc_binance_1h": btc_binance_1h,
    "btc_binance_5m": btc_binance_5m,
}
