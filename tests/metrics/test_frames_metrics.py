"""The frame helpers the metrics share: the per-series as-of join and the sorted-series check.

The oracle for :func:`join_asof_series` is polars' own grouped as-of join (``join_asof(..., by=...)``),
which the integer-key path must reproduce row for row.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from perpscope.metrics.frames import join_asof_series, sort_series

TS = pl.Datetime("ms", "UTC")
MIN = 60_000


def _frames(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Bars of 4 series (5-minute grid) and irregular snapshots that start late in some series, are
    missing for one series and exist for a series without bars."""
    rng = np.random.default_rng(seed)
    bars = pl.DataFrame(
        {
            "sid": np.repeat(np.arange(4, dtype=np.int64), 50),
            "end": np.tile(np.arange(1, 51, dtype=np.int64) * 5 * MIN, 4),
        }
    )
    n = 60
    snaps = pl.DataFrame(
        {
            "sid": rng.choice(np.array([0, 1, 3, 7], dtype=np.int64), n),
            "t": rng.integers(20 * MIN, 300 * MIN, n),
            "v": rng.normal(size=n),
        }
    ).unique(["sid", "t"])
    bars = bars.with_columns(pl.col("end").cast(TS))
    snaps = snaps.with_columns(pl.col("t").cast(TS), pl.col("t").alias("stamp"))
    return sort_series(bars, ["sid"], "end"), sort_series(snaps, ["sid"], "t")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("tolerance_ms", [None, 12 * MIN])
def test_join_asof_series_matches_grouped_join_asof(seed: int, tolerance_ms: int | None) -> None:
    bars, snaps = _frames(seed)
    got = join_asof_series(bars, snaps, left_on="end", right_on="t", by=["sid"], tolerance_ms=tolerance_ms)
    want = bars.join_asof(
        snaps,
        left_on="end",
        right_on="t",
        by="sid",
        check_sortedness=False,
        strategy="backward",
        tolerance=f"{tolerance_ms}ms" if tolerance_ms is not None else None,
    )
    assert_frame_equal(got, want)
    # bars of series 2 (no snapshots) and bars before a series' first snapshot get nothing
    assert got.filter(pl.col("sid") == 2).get_column("v").null_count() == 50
    assert got.get_column("v").null_count() > 50


def test_join_asof_series_string_keys_use_grouped_join() -> None:
    bars, snaps = _frames(0)
    bars = bars.with_columns(pl.col("sid").cast(pl.Utf8).alias("key")).drop("sid")
    snaps = snaps.with_columns(pl.col("sid").cast(pl.Utf8).alias("key")).drop("sid")
    bars, snaps = sort_series(bars, ["key"], "end"), sort_series(snaps, ["key"], "t")
    got = join_asof_series(bars, snaps, left_on="end", right_on="t", by=["key"])
    want = bars.join_asof(
        snaps, left_on="end", right_on="t", by="key", strategy="backward", check_sortedness=False
    )
    assert_frame_equal(got, want)


def test_sort_series_flags_the_first_key_sorted() -> None:
    df = pl.DataFrame({"sid": [0, 0, 1, 1], "ts_ms": [1, 2, 1, 2]})
    assert not df.get_column("sid").flags["SORTED_ASC"]
    out = sort_series(df, ["sid"])
    assert out.get_column("sid").flags["SORTED_ASC"]
    assert out.equals(df)
    shuffled = sort_series(df.reverse(), ["sid"])
    assert shuffled.equals(df) and shuffled.get_column("sid").flags["SORTED_ASC"]
