"""The regime steps of one chunk share one numbered frame per input frame (regimes/grid.py's memo, inside
``shared_preparation``): what they get is what numbering afresh gives, a changed or new frame is numbered
again, the memo and outside the context nothing is remembered."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal, assert_series_equal
from tests.regimes.conftest import make_panel

from perpscope.regimes import classify, episodes
from perpscope.regimes.grid import _MEMO, SID, first_known, numbered, prepare, remembered, shared_preparation

HOUR = 3_600_000


def _panel(shuffled: bool = False) -> pl.DataFrame:
    rows = [
        ("binance", c, t * HOUR, float(t + 1)) for c in ("ETH-USDT-PERP", "BTC-USDT-PERP") for t in range(5)
    ]
    df = pl.DataFrame(rows, schema=["venue", "canonical", "ts_ms", "close"], orient="row")
    df = df.with_columns(pl.col("ts_ms").cast(pl.Datetime("ms", "UTC")))
    return df.sample(fraction=1.0, shuffle=True, seed=1) if shuffled else df


@pytest.fixture(autouse=True)
def _in_a_block() -> Iterator[None]:
    with shared_preparation():
        yield


def _fresh(df: pl.DataFrame) -> pl.DataFrame:
    """numbered(df) worked out with nothing remembered (outside any block)."""
    return contextvars.Context().run(numbered, df)


@pytest.mark.parametrize("shuffled", [False, True])
def test_a_frame_is_numbered_once_and_as_afresh(shuffled: bool) -> None:
    df = _panel(shuffled)
    first = numbered(df)
    assert numbered(df) is first  # the second step reads the first's frame
    assert numbered(first) is first  # a numbered frame is its own numbering
    assert prepare(df, "test")[0] is first
    assert prepare(df, "test")[1] == HOUR
    assert_frame_equal(first, _fresh(df))
    assert first.get_column(SID).to_list() == [1] * 5 + [2] * 5  # BTC before ETH, sorted


def test_an_equal_but_new_frame_is_numbered_again() -> None:
    df = _panel()
    copy = df.clone()
    assert numbered(copy) is not numbered(df)
    assert_frame_equal(numbered(copy), numbered(df))


def test_a_frame_changed_in_place_is_not_served_its_old_numbering() -> None:
    df = _panel(shuffled=True)
    before = numbered(df)
    df.insert_column(0, pl.Series("extra", range(df.height)))  # polars' one in-place edit of a frame
    after = numbered(df)
    assert after is not before
    assert "extra" in after.columns
    assert_frame_equal(after, _fresh(df))


def test_remembered_makes_once_per_frame() -> None:
    df, calls = _panel(), []

    def make() -> int:
        calls.append(1)
        return df.height

    assert remembered(df, "n", make) == 10
    assert remembered(df, "n", make) == 10
    assert remembered(df.clone(), "n", make) == 10
    assert len(calls) == 2


def test_series_numbers_with_and_without_null_keys() -> None:
    df = _panel()
    assert numbered(df).get_column(SID).to_list() == [1] * 5 + [2] * 5
    # a null key is a series of one row per row, as same_series reads it
    early = pl.col("ts_ms").dt.hour() < 2
    nulls = df.with_columns(pl.when(early).then(None).otherwise(pl.col("venue")).alias("venue"))
    numbers = numbered(nulls).get_column(SID).to_list()
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 2 + 4  # BTC and ETH, and the four rows without a venue each alone


@pytest.mark.parametrize("shuffled", [False, True])
def test_series_numbers_are_the_runs_of_the_key_pair(shuffled: bool) -> None:
    """A series starts where either key changes (read from the keys' string views): one venue with two
    coins, two venues with one coin, keys short (inline in the view) and long (> 12 bytes, in a
    buffer), the frame built row by row (each long string its own copy) and read back sorted."""
    rows = [
        (v, c, t * HOUR, 1.0)
        for v, c in (
            ("binance", "BTC-USDT-PERP"),
            ("binance", "ETH-USDT-PERP"),
            ("bybit", "ETH-USDT-PERP"),
            ("okx-swap-usdt-margined", "ETH"),
            ("okx-swap-usdt-margined", "SOL"),
        )
        for t in range(3)
    ]
    df = pl.DataFrame(rows, schema=["venue", "canonical", "ts_ms", "close"], orient="row")
    df = df.with_columns(pl.col("ts_ms").cast(pl.Datetime("ms", "UTC")))
    df = df.sample(fraction=1.0, shuffle=True, seed=3) if shuffled else df
    got = _fresh(df)
    want = df.sort("venue", "canonical", "ts_ms").with_columns(
        (pl.struct("venue", "canonical").rle_id().cast(pl.Int64) + 1).alias(SID)
    )
    assert_frame_equal(got, want)
    assert got.get_column(SID).to_list() == [k for k in range(1, 6) for _ in range(3)]
    assert prepare(df, "test")[1] == HOUR


def test_outside_the_context_every_call_works_afresh() -> None:
    def outside() -> None:
        df = _panel()
        first = numbered(df)
        assert numbered(df) is not first
        assert _MEMO.get() is None
        # a change in place polars allows without changing height or schema is seen
        df[0, "close"] = 99.0
        assert prepare(df, "test")[0].get_column("close").to_list().count(99.0) == 1
        assert remembered(df, "n", lambda: 1) == 1 and remembered(df, "n", lambda: 2) == 2

    contextvars.Context().run(outside)  # a fresh context: shared_preparation not entered


def test_the_outermost_context_empties_the_memo() -> None:
    def run() -> None:
        df = _panel()
        with shared_preparation():
            with shared_preparation():
                first = numbered(df)
            assert numbered(df) is first  # the inner block's end keeps the memo
        assert _MEMO.get() is None

    contextvars.Context().run(run)


def _labelled_panel(null_key: bool = False) -> pl.DataFrame:
    """Two coins' 4h panels, shuffled (classify sorts them); with ``null_key`` one bar lacks its venue."""
    rng, n = np.random.default_rng(5), 60
    parts = [
        make_panel(np.exp(np.cumsum(rng.normal(0, 0.01, n))) * 100, oi=rng.uniform(1e4, 2e4, n), canonical=c)
        for c in ("ETH-USDT-PERP", "BTC-USDT-PERP")
    ]
    df = pl.concat(parts).sample(fraction=1.0, shuffle=True, seed=2)
    if null_key:
        seventh = pl.int_range(pl.len()) == 7
        df = df.with_columns(pl.when(seventh).then(None).otherwise(pl.col("venue")).alias("venue"))
    return df


@pytest.mark.parametrize("null_key", [False, True])
def test_labels_come_numbered_as_numbering_them_afresh_gives(null_key: bool) -> None:
    """classify hands its labels' numbering (its working frame's) to the next steps of the block: what
    they read is what numbering the labels afresh gives, frame and grid step; with a null key nothing
    is handed over and the labels are numbered as any frame."""
    panel = _labelled_panel(null_key)
    labels = classify(panel)
    memo = _MEMO.get()
    assert memo is not None and (id(labels) in memo) == (not null_key)  # handed over, or not
    got, step = prepare(labels, "test")
    fresh, fresh_step = contextvars.Context().run(prepare, labels, "test")
    assert_frame_equal(got, fresh)
    assert got.get_column(SID).flags["SORTED_ASC"]
    assert step == fresh_step
    assert (step is not None) == (not null_key)  # a null key's bar is a series of its own, one bar long
    assert_frame_equal(episodes(labels), contextvars.Context().run(episodes, labels))


def test_first_known_is_the_coalesce_of_the_present_columns() -> None:
    """first_known stops at a column without nulls and skips absent ones: the values and dtype of the
    coalesce of every present column, cast to Float64."""
    df = pl.DataFrame(
        {
            "a": [None, 1.0, None, float("nan")],
            "b": pl.Series([5, 6, None, 8], dtype=pl.Int32),
            "full": [7.0, 8.0, 9.0, 10.0],
            "c": [None, None, 3.0, None],
        }
    )
    cases = (["a", "b", "c"], ["a", "full", "c"], ["absent", "b", "full"], ["absent"], ["full", "a"], [])
    for names in cases:
        present = [pl.col(c).cast(pl.Float64) for c in names if c in df.columns]
        want = df.select(pl.coalesce(present) if present else pl.lit(None, pl.Float64)).to_series()
        got = df.select(first_known(df, names)).to_series()
        assert_series_equal(got, want, check_names=False)
