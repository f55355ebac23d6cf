"""A damaged Parquet file in the store is an error that names the file, never "no data".

The assemble readers once wrapped store reads in ``except Exception`` (cascade's order-book depth, the
heatmap's inputs, the evaluation's ``lake`` dataset), so a corrupt file read as "no depth" or "no
funding". ``read`` already returns an empty frame for a record that is not stored; anything else
propagates. One test per former site, on the bundled real SOLUSDT data with one month file cut short.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from tests.cascade.conftest import demo_data_dir, parse  # the cascade tests' reader of bundled files

import perpscope.records as records
from perpscope.assemble.cascade import cascade_state
from perpscope.assemble.datasets import lake_dataset
from perpscope.assemble.heatmap import heatmap_frames
from perpscope.core.errors import StoreError
from perpscope.core.time import DAY_MS
from perpscope.store import Lake

SOL = "SOL-USDT-PERP"


@pytest.fixture
def sol_store(lake: Lake) -> tuple[Lake, int]:
    """The bundled SOLUSDT 1h file (candles, OI, ratios, taker volume) in a fresh store; its last bar end."""
    for name, df in parse(demo_data_dir() / "SOLUSDT_perp_1h_ohlcv_oi_lsratio_taker.csv.gz").items():
        lake.write(getattr(records, name.upper()), df)
    last = pl.read_parquet(sorted((lake.root / "candles").rglob("*.parquet"))[-1])["ts_ms"]
    return lake, int(last.dt.epoch("ms").max()) + 3_600_000


def _damage(lake: Lake, record: str) -> Path:
    """Cut the newest month file of ``record`` short (or put a damaged one where none is), as a crash
    mid-copy or a full disk leaves it."""
    folder = lake.root / record / "venue=binance" / f"symbol={SOL}"
    files = sorted(folder.glob("*.parquet"))
    if files:
        f = files[-1]
        f.write_bytes(f.read_bytes()[:100])
    else:
        folder.mkdir(parents=True)
        f = folder / "2026-06.parquet"
        f.write_bytes(b"PAR1 not a parquet file")
    return f


def test_cascade_depth_read_from_a_damaged_file_is_an_error(sol_store: tuple[Lake, int]) -> None:
    lake, end = sol_store
    bad = _damage(lake, "book_depth")
    with pytest.raises(StoreError, match=f"book_depth: cannot read {bad}"):
        cascade_state(lake, "binance", "SOLUSDT", end)


def test_heatmap_inputs_from_a_damaged_file_are_an_error(sol_store: tuple[Lake, int]) -> None:
    lake, end = sol_store
    bad = _damage(lake, "open_interest")
    with pytest.raises(StoreError, match=f"open_interest: cannot read {bad}"):
        heatmap_frames(lake, "binance", "SOLUSDT", end - 5 * DAY_MS, end)


def test_the_lake_dataset_from_a_damaged_file_is_an_error(sol_store: tuple[Lake, int]) -> None:
    lake, _ = sol_store
    bad = _damage(lake, "taker_volume")
    with pytest.raises(StoreError, match=f"taker_volume: cannot read {bad}"):
        lake_dataset(lake, {"venue": "binance", "symbol": "SOLUSDT"})


def test_a_record_never_stored_is_still_empty_not_an_error(sol_store: tuple[Lake, int]) -> None:
    lake, end = sol_store
    frames = heatmap_frames(lake, "binance", "SOLUSDT", end - 5 * DAY_MS, end)
    assert frames["funding"].height == 0 and frames["candles"].height > 0
