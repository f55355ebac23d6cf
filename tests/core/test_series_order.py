"""core.series_order.rise against numpy's differences of the whole series, across chunk boundaries."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.core.series_order import FALLS, NEVER_FALLS, RISES, rise


def _expected(values: list[int]) -> int:
    d = np.diff(np.asarray(values, dtype=np.int64))
    return RISES if (d > 0).all() else NEVER_FALLS if (d >= 0).all() else FALLS


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.lists(st.integers(-5, 5), max_size=6), min_size=1, max_size=5),
    start=st.integers(-(10**12), 10**12),
)
def test_rise_agrees_with_the_differences_of_the_whole_series_over_any_chunks(
    parts: list[list[int]], start: int
) -> None:
    # small steps (mostly rising, some equal, some falling) cut into chunks of any length, empty ones too
    chunks, values, at = [], [], start
    for steps in parts:
        chunk = []
        for step in steps:
            at += step
            chunk.append(at)
        chunks.append(pl.Series("x", chunk, dtype=pl.Int64))
        values += chunk
    s = pl.concat(chunks, rechunk=False)
    assert s.n_chunks() >= sum(1 for c in chunks if len(c))  # chunks kept apart: boundaries crossed
    assert rise(s) == _expected(values)


def test_instants_are_compared_as_their_integers() -> None:
    t = pl.Series("t", [1_700_000_000_000, 1_700_000_000_000, 1_700_000_060_000]).cast(pl.Datetime("ms"))
    assert rise(t) == NEVER_FALLS
    assert rise(t.reverse()) == FALLS
    assert rise(t.unique(maintain_order=True)) == RISES
