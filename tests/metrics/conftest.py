"""Fixtures for the metrics tests: real data from ``../shared/data`` read through the project's importers.

``load(relpath, record)`` parses one shared file with the format :func:`perpscope.venues.registry.sniff`
finds and returns the frames of one record type, concatenated (already in the record schema). CoinGlass
data is only read from the shared folder, never copied into the repository.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from perpscope.venues.registry import sniff

Loader = Callable[[str, str], pl.DataFrame]


@pytest.fixture
def load(shared_data: Path) -> Loader:
    """``load("coinglass_liquidity_report/x.csv.gz", "liquidation_totals")`` → that record's rows."""

    def _load(relpath: str, record: str) -> pl.DataFrame:
        path = shared_data / relpath
        fmt = sniff(path)
        assert fmt is not None, f"no importer recognizes {path}"
        frames = [p.frame for p in fmt.parse(path) if p.record.name == record]
        assert frames, f"{path} holds no {record} rows"
        return pl.concat(frames, how="vertical_relaxed")

    return _load
