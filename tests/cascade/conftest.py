"""Inputs for the cascade tests: small hand-made books and the bundled real SOLUSDT demo data."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import polars as pl
import pytest

from perpscope.heatmap import model_inputs
from perpscope.venues.registry import sniff


def demo_data_dir() -> Path:
    return Path(str(resources.files("perpscope") / "data" / "demo"))


def parse(path: Path) -> dict[str, pl.DataFrame]:
    """Every record a bundled/shared file holds, through the importer's own parser."""
    fmt = sniff(path)
    assert fmt is not None, path
    out: dict[str, pl.DataFrame] = {}
    for p in fmt.parse(path):
        out[p.record.name] = pl.concat([out[p.record.name], p.frame]) if p.record.name in out else p.frame
    return out


@pytest.fixture(scope="session")
def sol_bars() -> pl.DataFrame:
    """SOLUSDT 1h heatmap inputs with open interest, ratios and taker volume (bundled real data, June 2026;
    source in ``perpscope/data/demo/README.md``)."""
    d = demo_data_dir()
    s = parse(d / "SOLUSDT_perp_1h_ohlcv_oi_lsratio_taker.csv.gz")
    return model_inputs(s["candles"], s["open_interest"], None, s["long_short_ratios"], s["taker_volume"])
