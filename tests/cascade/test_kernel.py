"""The cascade kernel: hand-worked cases, the numba twin equal to the reference, and the invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.cascade.kernel import PathsOut, numba_kernel, reference_kernel

# A linear book: 1% of price per 10,000 USD (cum depth 1e6 USD at a 100% move).
CX = np.array([0.0, 1.0])
CQ = np.array([0.0, 1e6])
ONE = np.ones(1)


def run(kernel, books, counter, q0, fund=math.inf, refill=0.0, d=1):  # type: ignore[no-untyped-def]
    return kernel(books, counter, CX, CQ, 100.0, d, np.zeros(1, np.int64), ONE, np.full(1, refill),
                  np.full(1, q0), np.full(1, fund), 8)  # fmt: skip


LONGS = (np.array([90.0, 96.0, 94.5]), np.array([100.0, 100.0, 100.0]), np.array([89.5, 95.5, 94.0]))
NO_COUNTER = (np.zeros(0), np.zeros(0))


@pytest.mark.parametrize("kernel", [reference_kernel, numba_kernel])
def test_two_round_cascade_worked_by_hand(kernel) -> None:  # type: ignore[no-untyped-def]
    # Shock: 50,000 USD sold → −5% → 95. Round 1: the long at 96 (100 × 96 = 9,600 USD) fires:
    # Q = 59,600 → −5.96% → 94.04. Round 2: the long at 94.5 (9,450 USD) fires: Q = 69,050 → 93.095.
    # The long at 90 never fires. Branching = 9,450 / 9,600.
    o = run(kernel, [LONGS], [NO_COUNTER], 50_000.0)
    assert o.rounds[0] == 2 and o.n_closed[0] == 2
    assert o.final_price[0] == pytest.approx(93.095)
    assert o.liq_usd[0] == pytest.approx(19_050.0) and o.first_usd[0] == pytest.approx(9_600.0)
    assert o.branching[0] == pytest.approx(9_450 / 9_600)
    assert o.step_price[0, :3] == pytest.approx([95.0, 94.04, 93.095])
    assert o.step_liq_usd[0, :2] == pytest.approx([9_600.0, 9_450.0]) and o.step_liq_usd[0, 2] == 0.0
    # insurance: round 1 fills at 94.04 below bankruptcy 95.5 → fund pays 100 × 1.46 = 146;
    # round 2 fills at 93.095 below 94.0 → 90.5
    assert o.fund_paid_usd[0] == pytest.approx(146.0 + 90.5)


@pytest.mark.parametrize("kernel", [reference_kernel, numba_kernel])
def test_empty_fund_auto_deleverages_against_the_top_ranked_shorts(kernel) -> None:  # type: ignore[no-untyped-def]
    # Same book, empty fund: the long at 96 would cost the fund 146 → it is ADL'd at its bankruptcy
    # price (100 × 95.5 = 9,550 USD) instead of sold: the price stays at 95, nothing else fires.
    # Counterparties: shorts of 60 and 60 base; rank 2 first (closed whole), then 40 of the rank-1 one.
    counter = (np.array([60.0, 60.0]), np.array([1.0, 2.0]))
    o = run(kernel, [LONGS], [counter], 50_000.0, fund=0.0)
    assert o.final_price[0] == pytest.approx(95.0) and o.rounds[0] == 1
    assert o.adl_usd[0] == pytest.approx(9_550.0) and o.adl_closed[0] == 1
    assert o.liq_usd[0] == pytest.approx(9_600.0) and o.fund_paid_usd[0] == 0.0
    # a fund of 1,000 pays the 146 and the cascade runs as before
    o2 = run(kernel, [LONGS], [counter], 50_000.0, fund=1_000.0)
    assert o2.adl_usd[0] == 0.0 and o2.final_price[0] == pytest.approx(93.095)


@pytest.mark.parametrize("kernel", [reference_kernel, numba_kernel])
def test_up_shock_liquidates_shorts_mirror_image(kernel) -> None:  # type: ignore[no-untyped-def]
    shorts = (np.array([104.0, 105.5]), np.array([100.0, 100.0]), np.array([104.5, 106.0]))
    o = run(kernel, [shorts], [NO_COUNTER], 50_000.0, d=-1)
    # 105 → short at 104 fires (10,400 USD) → Q = 60,400 → 106.04 → short at 105.5 (10,550) → 107.095
    assert o.rounds[0] == 2 and o.final_price[0] == pytest.approx(107.095)


@pytest.mark.parametrize("kernel", [reference_kernel, numba_kernel])
def test_refill_dilutes_forced_flow_not_the_shock(kernel) -> None:  # type: ignore[no-untyped-def]
    # refill 1 per round: round 1's 9,600 USD meets twice the depth → Q_eff = 50,000 + 4,800 → 94.52,
    # which is above the 94.5 trigger: the cascade stops after one round.
    o = run(kernel, [LONGS], [NO_COUNTER], 50_000.0, refill=1.0)
    assert o.step_price[0, 0] == pytest.approx(95.0)
    assert o.rounds[0] == 1 and o.final_price[0] == pytest.approx(94.52)


def _fields(o: PathsOut) -> dict[str, np.ndarray]:
    return {k: getattr(o, k) for k in PathsOut.__dataclass_fields__}


books_st = st.lists(
    st.tuples(st.floats(50.0, 99.9), st.floats(0.01, 50.0), st.floats(0.0, 3.0)), min_size=0, max_size=40
)


def _make(rows: list[tuple[float, float, float]], d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    liq = np.array([r[0] for r in rows]) if d > 0 else np.array([200.0 - r[0] for r in rows])
    qty = np.array([r[1] for r in rows])
    bank = liq - d * np.array([r[2] for r in rows])
    return liq.reshape(-1), qty.reshape(-1), bank.reshape(-1)


@settings(max_examples=60, deadline=None)
@given(
    members=st.lists(books_st, min_size=1, max_size=3),
    counter=st.lists(st.floats(0.01, 20.0), max_size=10),
    d=st.sampled_from([1, -1]),
    q0=st.lists(st.floats(0.0, 200_000.0), min_size=1, max_size=6),
    fund=st.sampled_from([math.inf, 0.0, 50.0, 500.0]),
    refill=st.floats(0.0, 0.5),
)
def test_numba_equals_reference(members, counter, d, q0, fund, refill) -> None:  # type: ignore[no-untyped-def]
    books = [_make(m, d) for m in members]
    cps = [(np.array(counter), np.arange(len(counter), dtype=float)[::-1].copy()) for _ in members]
    n = len(q0)
    args = (CX, CQ, 100.0, d, np.arange(n, dtype=np.int64) % len(books), np.linspace(0.5, 2.0, n),
            np.full(n, refill), np.array(q0), np.full(n, fund), 6)  # fmt: skip
    a, b = _fields(reference_kernel(books, cps, *args)), _fields(numba_kernel(books, cps, *args))
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-9, atol=1e-9, err_msg=k)
    o = numba_kernel(books, cps, *args)
    for p in range(n):
        liq, qty, _ = books[p % len(books)]
        # liquidated notional never exceeds the open notional; each position closes at most once
        assert o.liq_usd[p] <= float((liq * qty).sum()) * (1 + 1e-12) + 1e-9
        assert o.n_closed[p] <= len(liq) and o.adl_closed[p] <= len(counter)
        r = int(o.rounds[p])
        if r <= 6:
            assert o.step_closed[p, :r].sum() == o.n_closed[p]
            assert o.step_liq_usd[p, :r].sum() == pytest.approx(o.liq_usd[p])


@settings(max_examples=60, deadline=None)
@given(
    rows=books_st,
    d=st.sampled_from([1, -1]),
    small=st.floats(0.0, 150_000.0),
    extra=st.floats(0.0, 150_000.0),
    refill=st.floats(0.0, 1.0),
    scale=st.floats(0.3, 3.0),
)
def test_a_larger_shock_never_liquidates_less(rows, d, small, extra, refill, scale) -> None:  # type: ignore[no-untyped-def]
    book = [_make(rows, d)]
    args = dict(cx=CX, cq=CQ, p0=100.0, d=d, member=np.zeros(2, np.int64), scale=np.full(2, scale),
                refill=np.full(2, refill), q0=np.array([small, small + extra]), fund0=np.full(2, math.inf),
                r_max=4)  # fmt: skip
    o = numba_kernel(book, [NO_COUNTER], **args)
    assert o.liq_usd[1] >= o.liq_usd[0] - 1e-9 and o.n_closed[1] >= o.n_closed[0]
    assert d * (o.final_price[0] - o.final_price[1]) >= -1e-9  # and the price goes at least as far


@pytest.mark.parametrize("kernel", [reference_kernel, numba_kernel])
def test_no_leverage_nothing_cascades(kernel) -> None:  # type: ignore[no-untyped-def]
    # 1x longs (liquidation price ≤ 0: fully collateralized) and an empty book: any shock stays a shock
    one_x = (np.array([-0.4, -0.4]), np.array([10.0, 5.0]), np.array([0.0, 0.0]))
    for books in ([one_x], [(np.zeros(0), np.zeros(0), np.zeros(0))]):
        o = run(kernel, books, [NO_COUNTER], 900_000.0)
        assert o.liq_usd[0] == 0.0 and o.rounds[0] == 0 and math.isnan(o.branching[0])
        assert o.final_price[0] == pytest.approx(10.0)  # the shock's own −90%
