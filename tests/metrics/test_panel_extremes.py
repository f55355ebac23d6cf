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


def test_panel_is_the_same_with_series_interleaved() -> None:
    """Record rows interleaved across series (sorted by time, as a live capture writes them) instead of
    in one run per series: the panel's series lookup (run by run), its bar placement and its as-of
    matching (merge passes over sorted keys, with polars' joins as the fallback) give the same frame.
    Each series keeps its own row order, so every sum adds the same numbers in the same order."""
    from benchmarks.bench_metrics import synthetic_records

    from perpscope.metrics import build_panel

    rec = synthetic_records(["AAA", "BBB", "CCC"], n_bars=3_000, seed=5)
    runs = build_panel(EVERY, **rec)
    mixed = {k: v.sort("ts_ms", maintain_order=True) for k, v in rec.items()}
    assert mixed["candles"].get_column("canonical").head(3).n_unique() == 3  # really interleaved
    assert_frame_equal(build_panel(EVERY, **mixed), runs, check_exact=True)
    assert runs.get_column("canonical").n_unique() == 3 and runs.height == 3 * 3_000


def test_spans_of_a_frame_in_chunks_with_the_ids_handed_over() -> None:
    """Runs of one id crossing chunk boundaries, the ids given as an array (as build_panel hands them)."""
    rng = np.random.default_rng(9)
    sid = np.repeat([3, 0, 3, 1], [700, 500, 300, 900])
    ts = 1_704_067_200_000 + rng.integers(0, 30 * 86_400_000, sid.size)
    whole = pl.DataFrame({_SID: sid, "ts_ms": ts}).with_columns(pl.col("ts_ms").cast(TS))
    df = pl.concat([whole.slice(0, 650), whole.slice(650, 1000), whole.slice(1650, 750)], rechunk=False)
    assert df.get_column("ts_ms").n_chunks() == 3
    got = _extremes(df, EVERY, 4, snapshot=True, sid=sid)
    assert_frame_equal(_sorted(got), _sorted(_by_group(whole, EVERY, snapshot=True)))
