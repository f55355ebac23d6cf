"""Run starts of string columns read from their Arrow views, against the plain definition: a row
starts a run when its value differs from the row before's (nulls are values)."""

from __future__ import annotations

import io

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.metrics.string_runs import run_starts

# short strings (stored inside their view), long ones sharing a length and a 4-byte prefix (stored
# elsewhere), the empty string and multi-byte characters
words = st.sampled_from(
    [
        "",
        "a",
        "trade",
        "mark",
        "spot",
        "perp",
        "abcdefghijkl",
        "é",
        "BTC-USDT-PERP",
        "BTC-USDC-PERP",
        "BTC-USDT-SPOT",
        "ETH-USDT-PERP",
        "binance",
        "top_positions",
        "top_accounts",
    ]
)
runs = st.lists(st.tuples(st.one_of(st.none(), words), st.integers(1, 5)), min_size=0, max_size=30)


def _column(parts: list[tuple[str | None, int]]) -> list[str | None]:
    return [v for v, k in parts for _ in range(k)]


def _want(values: list[str | None]) -> list[int]:
    return [i for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


@settings(max_examples=150, deadline=None)
@given(runs, st.integers(1, 4), st.integers(0, 3))
def test_run_starts_are_where_the_value_changes(
    parts: list[tuple[str | None, int]], n_chunks: int, cut: int
) -> None:
    values = _column(parts)
    pieces = np.array_split(np.arange(len(values)), n_chunks)
    col = pl.concat([pl.Series("s", [values[i] for i in p], dtype=pl.String) for p in pieces], rechunk=False)
    assert run_starts(col).tolist() == _want(values)
    # a slice (an offset into the chunks' views)
    sub = col.slice(cut, max(len(values) - 2 * cut, 0))
    assert run_starts(sub).tolist() == _want(sub.to_list())


@settings(max_examples=60, deadline=None)
@given(runs)
def test_run_starts_of_a_column_read_from_parquet(parts: list[tuple[str | None, int]]) -> None:
    """A parquet column's repeated values share their bytes: long strings are told apart on the views."""
    values = _column(parts)
    buf = io.BytesIO()
    pl.DataFrame({"s": values}, schema={"s": pl.String}).write_parquet(buf)
    col = pl.read_parquet(buf.getvalue()).get_column("s")
    got = run_starts(col)
    assert got.dtype == np.int64
    assert got.tolist() == _want(values)


def test_short_strings_differing_past_their_length_bytes_are_read_by_value() -> None:
    col = pl.Series(["trade", "trade", "trades", "trade", "", "", "x"])
    assert run_starts(col).tolist() == [0, 2, 3, 4, 6]
    assert run_starts(pl.Series([], dtype=pl.String)).tolist() == []


def test_equal_views_in_two_chunks_are_compared_by_value() -> None:
    """Two chunks each holding one long string at the start of their own buffer have equal views."""
    col = pl.concat(
        [pl.Series(["BTC-USDT-PERP"]), pl.Series(["BTC-USDC-PERP"]), pl.Series(["BTC-USDC-PERP"])],
        rechunk=False,
    )
    assert col.n_chunks() == 3
    assert run_starts(col).tolist() == [0, 1]


def test_a_parquet_column_of_several_pages_is_read_from_its_views() -> None:
    """A store's read holds a long value's rows at several places (one per page or file): the few
    neighbouring views that do not tell are compared by value, and the column is not hashed."""
    from perpscope.metrics.string_runs import _from_views

    values = [f"S{i:04d}-USDT-PERP" for i in range(4) for _ in range(3000)]
    values[4000:4010] = ["S0001-USDC-PERP"] * 10  # same length and prefix, another value
    buf = io.BytesIO()
    pl.DataFrame({"s": values}).write_parquet(buf, data_page_size=1024, row_group_size=2500)
    col = pl.read_parquet(buf.getvalue()).get_column("s")
    assert _from_views(col) is not None
    assert run_starts(col).tolist() == _want(values)
    one = col.rechunk()
    assert _from_views(one) is not None
    assert run_starts(one).tolist() == _want(values)


def test_a_column_built_row_by_row_is_hashed() -> None:
    """Every row's long string stored on its own: nearly every pair of views does not tell; the column
    is hashed, with the same run starts."""
    from perpscope.metrics.string_runs import _from_views

    values = [f"S{i:04d}-USDT-PERP" for i in range(3) for _ in range(500)]
    col = pl.Series("s", values)
    assert _from_views(col) is None
    assert run_starts(col).tolist() == _want(values)
