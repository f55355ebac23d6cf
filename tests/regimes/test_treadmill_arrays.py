"""The treadmill's and breakers' arrays read from the labels the fast way are the definition's: the flush
flag is ``regime == "deleveraging_flush"`` (null: False), the liquidation sum ``nan_to_num + nan_to_num``,
and the series slices are the runs of the series number."""

from __future__ import annotations

import numpy as np
import polars as pl

from perpscope.regimes.grid import SID, series_slices
from perpscope.regimes.treadmill import _is_flush, _known_sum


def test_flush_flag_is_the_text_comparison() -> None:
    words = [
        "deleveraging_flush",
        "deleveraging_flusH",  # same length and first four bytes: compared as text
        "deleveraging_flush!",
        None,
        "dele",
        "neutral",
        "deleveraging_flush",
        "x" * 40,
    ]
    s = pl.Series("regime", words * 50)
    want = (s == "deleveraging_flush").fill_null(False).to_numpy()
    assert want.sum() == 100
    np.testing.assert_array_equal(_is_flush(s), want)
    np.testing.assert_array_equal(_is_flush(s.slice(3, 200)), want[3:203])  # a view into a longer column
    # a column polars does not keep as string views (categorical): the comparison itself
    cat = s.cast(pl.Categorical)
    np.testing.assert_array_equal(_is_flush(cat), (cat == "deleveraging_flush").fill_null(False).to_numpy())


def test_liquidation_sum_is_nan_to_num_of_each() -> None:
    big = np.finfo(np.float64).max
    a = np.array([1.0, np.nan, np.inf, -np.inf, big, np.nan, 2.5, -np.inf])
    b = np.array([2.0, 3.0, 1.0, np.inf, big, np.nan, np.nan, -1.0])
    with np.errstate(over="ignore"):
        want = np.nan_to_num(a) + np.nan_to_num(b)
        got = _known_sum(a, b)
    assert got.tobytes() == want.tobytes()


def test_series_slices_are_the_runs_of_the_series_number() -> None:
    sid = pl.Series(SID, [1, 1, 1, 2, 5, 5, 7], dtype=pl.Int64)
    df = pl.DataFrame([sid])
    rle = sid.rle()
    lengths = rle.struct.field("len").to_list()
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])).tolist()
    assert series_slices(df) == list(zip(offsets, lengths, strict=True))
    assert series_slices(df) == [(0, 3), (3, 1), (4, 2), (6, 1)]
