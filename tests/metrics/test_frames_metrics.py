"""The frame helpers the metrics share: the per-series as-of join and the sorted-series check.

The oracle for :func:`join_asof_series` is polars' own grouped as-of join (``join_asof(..., by=...)``),
which the integer-key path must reproduce row for row.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from perpscope.metrics.frames import chunked_like, gather_rows, is_sorted_by, join_asof_series, sort_series
from perpscope.metrics.sorted_keys import asof_index, asof_keyed, lookup_runs

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


def test_join_asof_series_takes_the_last_of_equal_stamps_as_polars() -> None:
    """Snapshots stamped alike (a feed's duplicates): the compiled merge takes the last, as polars does."""
    bars, snaps = _frames(4)
    dup = pl.concat([snaps, snaps.with_columns(pl.col("v") + 100.0)]).sort(["sid", "t"], maintain_order=True)
    got = join_asof_series(bars, dup, left_on="end", right_on="t", by=["sid"])
    want = bars.join_asof(dup, left_on="end", right_on="t", by="sid", check_sortedness=False)
    assert_frame_equal(got, want)
    assert (got.get_column("v").drop_nulls() > 50).all()  # always the later copy


def test_gather_rows_slices_gathers_and_blanks() -> None:
    df = pl.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": ["w", "x", "y", "z"]})
    run = gather_rows(df, np.array([1, 2, 3]))
    assert run.to_dict(as_series=False) == {"a": [2.0, 3.0, 4.0], "b": ["x", "y", "z"]}
    holes = gather_rows(df, np.array([-1, 0, 0, 3, -1]))
    assert holes.to_dict(as_series=False) == {
        "a": [None, 1.0, 1.0, 4.0, None],
        "b": [None, "w", "w", "z", None],
    }
    empty = gather_rows(df.clear(), np.array([-1, -1]))
    assert empty.height == 2 and empty.null_count().row(0) == (2, 2) and empty.schema == df.schema


def _gathered_by_polars(df: pl.DataFrame, idx: np.ndarray) -> pl.DataFrame:
    """The definition of :func:`gather_rows`: polars' gather by row numbers, a null where ``idx < 0``."""
    at = pl.Series([int(i) if i >= 0 else None for i in idx], dtype=pl.UInt32)
    return df.select(pl.all().gather(at))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
    missing=st.sampled_from([0.0, 0.05, 0.2, 0.5, 0.95, 1.0]),
    nested=st.booleans(),
)
def test_gather_rows_is_polars_gather(rows: int, seed: int, missing: float, nested: bool) -> None:
    """Every path of :func:`gather_rows` (slice, gather, gather then blank, gather by a null index)
    gives polars' gather bit for bit: floats with NaN, -0.0 and nulls, small ints, booleans, strings,
    instants, and a nested column (which keeps the null-index gather)."""
    rng = np.random.default_rng(seed)
    floats = rng.choice(np.array([1.5, -0.0, 0.0, np.nan, np.inf, 2.25]), rows)
    df = pl.DataFrame(
        {
            "f": pl.Series(floats).scatter(rng.integers(0, rows, 2).tolist(), None),
            "i8": pl.Series(rng.integers(-1, 2, rows), dtype=pl.Int8),
            "b": rng.random(rows) < 0.5,
            "s": pl.Series(rng.choice(["x", "yy"], rows)).scatter([0], None),
            "t": pl.Series(rng.integers(0, 10**12, rows)).cast(TS),
        }
    )
    if nested:
        df = df.with_columns(pl.struct("f", "s").alias("nest"))
    n = int(rng.integers(0, 3 * rows))
    idx = np.where(rng.random(n) < missing, -1, rng.integers(0, rows, n)).astype(np.int64)
    if rng.random() < 0.2:  # consecutive rows: the slice path
        idx = np.arange(n, dtype=np.int64) % rows if n <= rows else np.arange(rows, dtype=np.int64)
    got, want = gather_rows(df, idx), _gathered_by_polars(df, idx)
    assert_frame_equal(got, want, check_exact=True)
    assert np.array_equal(
        got.get_column("f").to_numpy().view(np.int64), want.get_column("f").to_numpy().view(np.int64)
    )


def test_chunked_like_keeps_the_frame_chunks() -> None:
    """A column added to a frame of several chunks is cut alike, so nothing is copied into one chunk."""
    df = pl.concat([pl.DataFrame({"a": [1, 2]}), pl.DataFrame({"a": [3, 4, 5]})], rechunk=False)
    col = chunked_like("b", np.arange(5), df.get_column("a"))
    assert col.chunk_lengths() == [2, 3] and col.to_list() == [0, 1, 2, 3, 4]
    out = df.with_columns(col)
    assert out.get_column("a").chunk_lengths() == [2, 3]


def test_lookup_runs_codes_each_value_and_marks_unknown() -> None:
    table = np.array([3, 10, 42], dtype=np.uint64)
    codes = np.array([7, 8, 9], dtype=np.int64)
    values = np.array([10, 10, 3, 5, 5, 42, 10, 99], dtype=np.uint64)
    got = lookup_runs(values, table, codes, -1)
    want = [dict(zip(table.tolist(), codes.tolist(), strict=True)).get(v, -1) for v in values.tolist()]
    assert got.tolist() == want == [8, 8, 7, -1, -1, 9, 8, -1]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(0, 60),
    m=st.integers(0, 400),  # many right keys per left one: the galloping search
    tolerance=st.sampled_from([-1, 0, 5]),
    with_offset=st.booleans(),
)
def test_asof_kernels_are_polars_backward_asof_per_series(
    seed: int, n: int, m: int, tolerance: int, with_offset: bool
) -> None:
    """Both kernels find, for each left key (+ offset), the row polars' backward as-of join by series
    takes (the last of equal keys, none past the tolerance, none from another series)."""
    rng = np.random.default_rng(seed)
    shift = 42

    def keyed(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        sid = np.sort(rng.integers(0, 3, k)).astype(np.int64)
        ts = rng.integers(0, int(rng.integers(1, 300)), k).astype(np.int64)
        order = np.lexsort((ts, sid))
        sid, ts = sid[order], ts[order]
        return sid, ts, sid * 2**shift + ts

    l_sid, l_ts, left = keyed(n)
    r_sid, r_ts, right = keyed(m)
    per_series = rng.integers(0, 4, 3).astype(np.int64)  # one interval per series: the ends ascend too
    offset = per_series[l_sid] if with_offset else np.empty(0, dtype=np.int64)
    got = asof_keyed(left, offset, right, shift, tolerance)
    at = l_ts + offset if with_offset else l_ts
    lf = pl.DataFrame({"sid": l_sid, "t": at}).with_row_index("i")
    rf = pl.DataFrame({"sid": r_sid, "t": r_ts, "row": np.arange(m, dtype=np.int64)})
    want = (
        lf.sort("sid", "t")
        .join_asof(
            rf.sort("sid", "t"),
            on="t",
            by="sid",
            strategy="backward",
            tolerance=None if tolerance < 0 else tolerance,
            check_sortedness=False,
        )
        .sort("i")
        .get_column("row")
        .fill_null(-1)
        .to_numpy()
    )
    assert got.tolist() == want.tolist()
    ends = left + offset if with_offset else left
    assert asof_index(ends, right, l_sid, r_sid, tolerance).tolist() == want.tolist()


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


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-3, 3), st.integers(-(2**40), 2**40)), max_size=12),
    st.booleans(),
)
def test_is_sorted_by_compiled_pass_equals_the_polars_form(rows: list[tuple[int, int]], sort: bool) -> None:
    """An int64 id and an instant (the panel's frames) take a compiled pass; an Int32 id takes the polars
    expression, the definition: both answer alike, on sorted and unsorted rows."""
    rows = sorted(rows) if sort else rows
    df = pl.DataFrame(
        {"sid": [r[0] for r in rows], "ts_ms": [r[1] for r in rows]},
        schema={"sid": pl.Int64, "ts_ms": pl.Int64},
    ).with_columns(pl.col("ts_ms").cast(pl.Datetime("ms", "UTC")))
    polars_form = is_sorted_by(df.with_columns(pl.col("sid").cast(pl.Int32)), ["sid", "ts_ms"])
    assert is_sorted_by(df, ["sid", "ts_ms"]) == polars_form == (rows == sorted(rows))
