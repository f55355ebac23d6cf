"""The panel's series spans (first and last instant per series) from the compiled pass equal polars'
group-by, on rows in any order, with series absent from a source and null stamps (group-by path)."""

from __future__ import annotations

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

from perpscope.metrics.panel import _SID, _extremes

TS = pl.Datetime("ms", "UTC")
EVERY = 300_000


def _by_group(df: pl.DataFrame, every: int, *, snapshot: bool) -> pl.DataFrame:
    from perpscope.metrics.bars import known_bar_open

    ts = pl.col("ts_ms")
    ext = df.group_by(_SID).agg(ts.min().alias("_lo"), ts.max().alias("_hi"))
    out = pl.concat([ext.select(_SID, pl.col(c).alias("ts_ms")) for c in ("_lo", "_hi")])
    return out.with_columns(known_bar_open("ts_ms", every).alias("ts_ms")) if snapshot else out


def _sorted(df: pl.DataFrame) -> pl.DataFrame:
    return df.sort(_SID, "ts_ms")


def test_spans_match_the_group_by_on_shuffled_rows() -> None:
    rng = np.random.default_rng(4)
    n = 50_000
    sid = rng.choice([0, 2, 3, 7], n)  # series 1, 4, 5, 6 have no row in this source
    ts = 1_704_067_200_000 + rng.integers(0, 365 * 86_400_000, n)
    df = pl.DataFrame({_SID: sid, "ts_ms": ts}).with_columns(pl.col("ts_ms").cast(TS))
    for snapshot in (False, True):
        got = _extremes(df, EVERY, 8, snapshot=snapshot)
        assert_frame_equal(_sorted(got), _sorted(_by_group(df, EVERY, snapshot=snapshot)))
    assert sorted(set(got.get_column(_SID).to_list())) == [0, 2, 3, 7]


def test_null_stamps_take_the_group_by() -> None:
    df = pl.DataFrame(
        {_SID: [0, 0, 1], "ts_ms": [1_704_067_200_000, None, 1_704_067_500_000]},
        schema_overrides={_SID: pl.Int64},
    ).with_columns(pl.col("ts_ms").cast(TS))
    assert_frame_equal(
        _sorted(_extremes(df, EVERY, 2, snapshot=False)), _sorted(_by_group(df, EVERY, snapshot=False))
    )
