"""Real Binance data for the heatmap tests: the bundled demo slices (provenance in their README)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import polars as pl
import pytest

from perpscope.venues.registry import sniff


def demo_data_dir() -> Path:
    return Path(str(resources.files("perpscope") / "data" / "demo"))


def parse(path: Path) -> dict[str, pl.DataFrame]:
    fmt = sniff(path)
    assert fmt is not None, path
    out: dict[str, pl.DataFrame] = {}
    for p in fmt.parse(path):
        out[p.record.name] = pl.concat([out[p.record.name], p.frame]) if p.record.name in out else p.frame
    return out


@pytest.fixture(scope="session")
def sol_1h() -> dict[str, pl.DataFrame]:
    """SOLUSDT 1h candles, open interest, long/short ratio, taker volume and funding (June 2026)."""
    d = demo_data_dir()
    out = parse(d / "SOLUSDT_perp_1h_ohlcv_oi_lsratio_taker.csv.gz")
    out["funding"] = parse(d / "SOLUSDT_funding_rate.csv.gz")["funding"]
    return out


@pytest.fixture(scope="session")
def btc_5m() -> pl.DataFrame:
    """BTCUSDT 5m perp klines around the 10 Oct 2025 crash (no open interest)."""
    return parse(demo_data_dir() / "BTCUSDT_perp_5m_20251006_20251015.csv.gz")["candles"]
