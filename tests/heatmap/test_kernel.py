"""The numba kernel equals the readable reference; the book conserves notional."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.heatmap.kernel import KernelOut, numba_kernel, reference_kernel

FIELDS = KernelOut.__dataclass_fields__


def _case(seed: int, n: int, n_bins: int, p_keep: float, p_zero: float) -> tuple:
    rng = np.random.default_rng(seed)
    c = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    h = c * (1 + np.abs(rng.normal(0, 0.01, n)))
    lo = c * (1 - np.abs(rng.normal(0, 0.01, n)))
    nl = np.where(rng.random(n) < p_zero, 0.0, rng.exponential(1e3, n))
    ns = np.where(rng.random(n) < p_zero, 0.0, rng.exponential(1e3, n))
    keep = np.where(rng.random(n) < p_keep, rng.uniform(0.0, 1.0, n), 1.0)
    levs = np.array([2.0, 5.0, 20.0, 100.0])
    w = np.array([0.1, 0.4, 0.3, 0.2])
    lf = np.tile((1 - 1 / levs) / (1 - 0.004), (n, 1))
    sf = np.tile((1 + 1 / levs) / (1 + 0.004), (n, 1))
    g_lo, g_hi = c.min() * 0.4, c.max() * 1.6
    snaps = rng.random(n) < 0.2
    snaps[-1] = True
    return h, lo, c, nl, ns, keep, lf, sf, w, g_lo, (g_hi - g_lo) / n_bins, n_bins, snaps


def _assert_equal(a: KernelOut, b: KernelOut) -> None:
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        assert x.shape == y.shape, f
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-6, err_msg=f)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 120),
    n_bins=st.integers(1, 80),
    p_keep=st.sampled_from([0.0, 0.3, 1.0]),
    p_zero=st.sampled_from([0.0, 0.5, 1.0]),
)
def test_numba_equals_reference(seed: int, n: int, n_bins: int, p_keep: float, p_zero: float) -> None:
    args = _case(seed, n, n_bins, p_keep, p_zero)
    _assert_equal(reference_kernel(*args), numba_kernel(*args))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 150), n_bins=st.integers(1, 60))
def test_notional_is_conserved(seed: int, n: int, n_bins: int) -> None:
    args = _case(seed, n, n_bins, 0.3, 0.2)
    out = numba_kernel(*args)
    added = args[3].sum() + args[4].sum()
    left = out.final_long.sum() + out.final_short.sum()
    gone = out.consumed_long.sum() + out.consumed_short.sum() + out.removed.sum()
    assert added == pytest.approx(left + gone, rel=1e-9, abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 120), n_bins=st.integers(1, 60))
def test_commit_bars_place_pending_notional_alike(seed: int, n: int, n_bins: int) -> None:
    # positions enter on commit bars only (the models' netting windows); both kernels agree, and what
    # was committed is conserved
    args = _case(seed, n, n_bins, 0.3, 0.2)
    commit = np.random.default_rng(seed + 7).random(n) < 0.3
    commit[-1] = True
    a, b = reference_kernel(*args, commit), numba_kernel(*args, commit)
    _assert_equal(a, b)
    added = args[3].sum() + args[4].sum()
    gone = b.consumed_long.sum() + b.consumed_short.sum() + b.removed.sum()
    assert added == pytest.approx(b.final_long.sum() + b.final_short.sum() + gone, rel=1e-9, abs=1e-6)


def test_positions_of_a_window_enter_on_its_commit_bar() -> None:
    # bar 0 opens 100 USD long (liq bin 45) but the window commits on bar 1: bar 1's low (4.45) reaches
    # bin 45 before the position is on the book, so nothing is consumed; bar 2 (low 4.4) consumes it
    h = np.array([5.0, 5.2, 5.05])
    lo = np.array([5.0, 4.45, 4.4])
    entry = np.full(3, 5.0)
    nl = np.array([100.0, 0, 0])
    ns = np.zeros(3)
    keep = np.ones(3)
    lf, sf, w = np.full((3, 1), 0.9), np.full((3, 1), 1.1), np.array([1.0])
    snaps = np.ones(3, dtype=bool)
    commit = np.array([False, True, True])
    for kern in (reference_kernel, numba_kernel):
        out = kern(h, lo, entry, nl, ns, keep, lf, sf, w, 0.0, 0.1, 100, snaps, commit)
        assert out.grid_long[0].sum() == 0.0 and out.grid_long[1, 45] == 100.0
        assert out.consumed_long.tolist() == [0.0, 0.0, 100.0]


def test_fixed_case_by_hand() -> None:
    # grid 0..10 in 100 bins of 0.1; bar 0 opens 100 USD long at entry 5 (factor 0.9 → liq 4.5 → bin 45)
    # and 60 short (factor 1.1 → 5.5 → bin 55); bar 1 trades 4.45–5.2: touches bin 45 (longs consumed),
    # not bin 55; bar 2 halves the book (keep 0.5), trades 5.0–5.05; bar 3 trades up to 5.7: shorts go.
    h = np.array([5.0, 5.2, 5.05, 5.7])
    lo = np.array([5.0, 4.45, 5.0, 5.6])
    entry = np.array([5.0, 5.0, 5.0, 5.0])
    nl = np.array([100.0, 0, 0, 0])
    ns = np.array([60.0, 0, 0, 0])
    keep = np.array([1.0, 1.0, 0.5, 1.0])
    lf = np.full((4, 1), 0.9)
    sf = np.full((4, 1), 1.1)
    w = np.array([1.0])
    snaps = np.array([True, True, True, True])
    for kern in (reference_kernel, numba_kernel):
        out = kern(h, lo, entry, nl, ns, keep, lf, sf, w, 0.0, 0.1, 100, snaps)
        assert out.grid_long[0, 45] == 100.0 and out.grid_short[0, 55] == 60.0
        assert out.consumed_long.tolist() == [0.0, 100.0, 0.0, 0.0]
        assert out.removed.tolist() == [0.0, 0.0, 30.0, 0.0]
        assert out.consumed_short.tolist() == [0.0, 0.0, 0.0, 30.0]
        assert out.final_long.sum() == 0.0 and out.final_short.sum() == 0.0
