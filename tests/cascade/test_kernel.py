"""The cascade kernel: hand-worked cases, the numba twin equal to the reference, and the invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.cascade.kernel import PathsOut, numba_kernel, reference_kernel
from perpscope.cascade.liquidity import MAX_MOVE

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
    # Shock: 50,000 USD sold → −5% → 95. The forced flow meets the book re-centred at 95.
    # Round 1: the long at 96 (100 × 96 = 9,600 USD) fires: F = 9,600 → 95·(1 − 0.0096) = 94.088.
    # Round 2: the long at 94.5 (9,450 USD) fires: F = 19,050 → 95·(1 − 0.01905) = 93.19025.
    # The long at 90 never fires. Branching = 9,450 / 9,600.
    o = run(kernel, [LONGS], [NO_COUNTER], 50_000.0)
    assert o.rounds[0] == 2 and o.n_closed[0] == 2
    assert o.final_price[0] == pytest.approx(93.19025)
    assert o.liq_usd[0] == pytest.approx(19_050.0) and o.first_usd[0] == pytest.approx(9_600.0)
    assert o.branching[0] == pytest.approx(9_450 / 9_600)
    assert o.step_price[0, :3] == pytest.approx([95.0, 94.088, 93.19025])
    assert o.step_liq_usd[0, :2] == pytest.approx([9_600.0, 9_450.0]) and o.step_liq_usd[0, 2] == 0.0
    # insurance: round 1 fills at 94.088 below bankruptcy 95.5 → fund pays 100 × 1.412 = 141.2;
    # round 2 fills at 93.19025 below 94.0 → 80.975
    assert o.fund_paid_usd[0] == pytest.approx(141.2 + 80.975)


@pytest.mark.parametrize("kernel", [reference_kernel, numba_kernel])
def test_empty_fund_auto_deleverages_against_the_top_ranked_shorts(kernel) -> None:  # type: ignore[no-untyped-def]
    # Same book, empty fund: the long at 96 would cost the fund 141.2 → it is ADL'd at its bankruptcy
    # price (100 × 95.5 = 9,550 USD) instead of sold: the price stays at 95, nothing else fires.
    # Counterparties: shorts of 60 and 60 base; rank 2 first (closed whole), then 40 of the rank-1 one.
    counter = (np.array([60.0, 60.0]), np.array([1.0, 2.0]))
    o = run(kernel, [LONGS], [counter], 50_000.0, fund=0.0)
    assert o.final_price[0] == pytest.approx(95.0) and o.rounds[0] == 1
    assert o.adl_usd[0] == pytest.approx(9_550.0) and o.adl_closed[0] == 1
    assert o.liq_usd[0] == pytest.approx(9_600.0) and o.fund_paid_usd[0] == 0.0
    # a fund of 1,000 pays the 141.2 and the cascade runs as before
    o2 = run(kernel, [LONGS], [counter], 50_000.0, fund=1_000.0)
    assert o2.adl_usd[0] == 0.0 and o2.final_price[0] == pytest.approx(93.19025)


@pytest.mark.parametrize("kernel", [reference_kernel, numba_kernel])
def test_up_shock_liquidates_shorts_mirror_image(kernel) -> None:  # type: ignore[no-untyped-def]
    shorts = (np.array([104.0, 105.5]), np.array([100.0, 100.0]), np.array([104.5, 106.0]))
    o = run(kernel, [shorts], [NO_COUNTER], 50_000.0, d=-1)
    # 105 → short at 104 fires (10,400 USD) → 105·1.0104 = 106.092 → short at 105.5 (10,550)
    # → F = 20,950 → 105·1.02095 = 107.19975
    assert o.rounds[0] == 2 and o.final_price[0] == pytest.approx(107.19975)


@pytest.mark.parametrize("kernel", [reference_kernel, numba_kernel])
def test_refill_dilutes_forced_flow_not_the_shock(kernel) -> None:  # type: ignore[no-untyped-def]
    # refill 1 per round: round 1's 9,600 USD meets twice the depth → 95·(1 − 0.0048) = 94.544,
    # which is above the 94.5 trigger: the cascade stops after one round.
    o = run(kernel, [LONGS], [NO_COUNTER], 50_000.0, refill=1.0)
    assert o.step_price[0, 0] == pytest.approx(95.0)
    assert o.rounds[0] == 1 and o.final_price[0] == pytest.approx(94.544)


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


# A concave book (the square-root law's shape): each further % of move needs more USD than the last.
# 1% per 10,000 USD, then 4% more for the next 90,000, then 15% more for the next 900,000.
CCX = np.array([0.0, 0.01, 0.05, 0.20])
CCQ = np.array([0.0, 1e4, 1e5, 1e6])


def _interp_move(q: float) -> float:
    """I(q) on the concave curve: linear between points, the last segment's slope beyond the last."""
    if q > CCQ[-1]:
        return min(float(CCX[-1] + (q - CCQ[-1]) * (CCX[-1] - CCX[-2]) / (CCQ[-1] - CCQ[-2])), MAX_MOVE)
    return float(np.interp(q, CCQ, CCX))


@pytest.mark.parametrize("kernel", [reference_kernel, numba_kernel])
def test_concave_forced_flow_moves_the_post_shock_price_by_i_of_f(kernel) -> None:  # type: ignore[no-untyped-def]
    # Shock: 100,000 USD sold → I = 5% → 95. A long at 95 (qty 50, 4,750 USD) fires at once.
    # Its flow meets the book re-centred at 95, where the first 10,000 USD move 1%: I(4,750) = 0.475%
    # → 95·(1 − 0.00475) = 94.54875. Stacked on the shock's flow it would have moved the price by only
    # I(104,750) − I(100,000) = 4,750 / 900,000 × 15% = 0.0792% (6× less): the bug this kernel fixes.
    book = (np.array([95.0]), np.array([50.0]), np.array([90.0]))
    o = kernel([book], [NO_COUNTER], CCX, CCQ, 100.0, 1, np.zeros(1, np.int64), ONE, np.zeros(1),
               np.full(1, 1e5), np.full(1, math.inf), 4)  # fmt: skip
    assert o.step_price[0, 0] == pytest.approx(95.0)
    assert o.final_price[0] == pytest.approx(95.0 * (1 - _interp_move(4_750.0)))
    stacked = 100.0 * (1 - _interp_move(104_750.0))
    assert 95.0 - o.final_price[0] > 5 * (95.0 - stacked)


@settings(max_examples=60, deadline=None)
@given(
    rows=books_st,
    d=st.sampled_from([1, -1]),
    q0=st.floats(0.0, 2_000_000.0),
    scale=st.floats(0.3, 3.0),
    refill=st.sampled_from([0.0, 0.1, 0.5]),
)
def test_every_round_moves_the_post_shock_price_by_i_of_the_forced_flow(rows, d, q0, scale, refill) -> None:  # type: ignore[no-untyped-def]
    # On the concave curve, round k's price is P_s·(1 − d·I(F_k / ((1 + ρk)·s))), F_k the liquidated USD
    # of rounds 1..k (no ADL with an unlimited fund), P_s the price right after the shock.
    book = [_make(rows, d)]
    for kernel in (reference_kernel, numba_kernel):
        o = kernel(book, [NO_COUNTER], CCX, CCQ, 100.0, d, np.zeros(1, np.int64), np.full(1, scale),
                   np.full(1, refill), np.full(1, q0), np.full(1, math.inf), 50)  # fmt: skip
        ps = 100.0 * (1 - d * _interp_move(q0 / scale))
        assert o.step_price[0, 0] == pytest.approx(ps)
        f = np.cumsum(o.step_liq_usd[0])
        for k in range(1, int(min(o.rounds[0], 50)) + 1):
            want = ps * (1 - d * _interp_move(f[k - 1] / ((1 + refill * k) * scale)))
            assert o.step_price[0, k] == pytest.approx(want, rel=1e-12)
        if o.rounds[0] > 0:
            # forced selling adds to the shock: the cascade ends beyond the post-shock price
            assert d * (ps - o.final_price[0]) > 0
