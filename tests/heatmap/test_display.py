"""The coarse book the charts draw: nothing lost or made up inside the drawn range, real snapshots only."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.heatmap.display import coarse_book


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 300),
    st.integers(1, 400),
    st.integers(1, 50),
    st.integers(1, 40),
    st.floats(0.0, 0.5),
    st.floats(0.5, 1.0),
)
def test_rows_sum_the_bins_in_range_and_columns_are_real_snapshots(
    n_t: int, n_p: int, rows: int, cols: int, lo_q: float, hi_q: float
) -> None:
    rng = np.random.default_rng(n_t * 1000 + n_p)
    ts = np.arange(n_t, dtype=np.int64) * 300_000
    mids = np.linspace(100.0, 200.0, n_p)
    usd = rng.gamma(1.0, 1e5, (n_t, n_p))
    lo, hi = 100.0 + 100 * lo_q, 100.0 + 100 * hi_q
    b = coarse_book(ts, mids, usd, lo=lo, hi=hi, rows=rows, max_cols=cols)
    inside = (mids >= lo) & (mids <= hi)
    assert b.usd.shape == (b.price_mid.size, b.ts_ms.size)
    assert b.price_mid.size <= rows and 1 <= b.ts_ms.size <= cols
    assert b.ts_ms[-1] == ts[-1]  # the current book is always drawn
    assert set(b.ts_ms.tolist()) <= set(ts.tolist())
    for j, t in enumerate(b.ts_ms.tolist()):  # each column is that snapshot's book in the range, summed
        want = usd[int(t // 300_000), inside].sum()
        assert np.isclose(b.usd[:, j].sum(dtype=np.float64), want, rtol=1e-5)
    if b.price_mid.size > 1:
        assert np.all(np.diff(b.price_mid) > 0)
        assert b.price_mid[0] >= mids[inside][0] and b.price_mid[-1] <= mids[inside][-1]
    # every row but the last holds the same number of bins: no stripes from uneven rows
    k = -(-int(inside.sum()) // rows) if inside.any() else 1
    if inside.sum() >= 2 * k and b.price_mid.size >= 2:
        widths = np.diff(b.price_mid[:-1]) if b.price_mid.size > 2 else np.diff(b.price_mid)
        assert np.allclose(widths, widths[0])


def test_small_grids_pass_through_and_an_empty_book_says_so() -> None:
    ts = np.arange(5, dtype=np.int64)
    mids = np.array([1.0, 2.0, 3.0])
    usd = np.arange(15, dtype=np.float64).reshape(5, 3)
    b = coarse_book(ts, mids, usd, lo=0.0, hi=10.0, rows=10, max_cols=10)
    assert np.array_equal(b.ts_ms, ts) and np.array_equal(b.price_mid, mids)
    assert np.array_equal(b.usd, usd.T.astype(np.float32)) and not b.empty
    assert coarse_book(ts, mids, np.zeros((5, 3)), lo=0.0, hi=10.0, rows=10, max_cols=10).empty
    none_in_range = coarse_book(ts, mids, usd, lo=50.0, hi=60.0, rows=10, max_cols=10)
    assert none_in_range.price_mid.size == 0 and none_in_range.empty
