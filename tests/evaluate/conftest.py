"""Synthetic panels for the evaluate tests (their expected values are worked out by hand in each test)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest


def make_panel(close: np.ndarray | list[float], every_ms: int = 3_600_000, **cols: object) -> pl.DataFrame:
    """One series of bars: open = previous close (first: its own close), high/low = max/min(open, close)."""
    c = np.asarray(close, dtype=float)
    o = np.concatenate([[c[0]], c[:-1]])
    df = pl.DataFrame(
        {
            "venue": "test",
            "canonical": "BTC-USDT-PERP",
            "ts_ms": (np.arange(len(c), dtype=np.int64) * every_ms),
            "open": o,
            "high": np.maximum(o, c),
            "low": np.minimum(o, c),
            "close": c,
        }
    ).with_columns(pl.col("ts_ms").cast(pl.Datetime("ms", "UTC")))
    for k, v in cols.items():
        df = df.with_columns(pl.Series(k, v))
    return df


@pytest.fixture
def panel_of():  # type: ignore[no-untyped-def]
    """:func:`make_panel` as a fixture."""
    return make_panel
