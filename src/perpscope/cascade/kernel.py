"""The cascade kernel: a readable reference and a numba twin, tested equal.

One call simulates many Monte Carlo paths of a cascade in one direction ``d`` (+1: a down move that
liquidates longs; −1: an up move that liquidates shorts). Per path ``p``:

- the book is member ``member[p]`` of a list of books (ensemble members);
- the impact curve (cumulative depth ``cq`` by relative move ``cx``) is scaled by ``scale[p]`` (depth
  uncertainty);
- the shock is a flow ``q0[p]`` USD (a price move is converted to the flow that causes it before the
  call); the insurance fund starts at ``fund0[p]`` USD (``inf``: never exhausted, so no ADL).

**The forced flow meets the book as it stands after the shock.** The shock moves the price to
``P_s = P0·(1 − d·I(q0/scale))``; the impact curve is then re-centred at ``P_s``: the forced flow so far,
``F_k``, moves the price to ``P_k = P_s·(1 − d·I(F_k / ((1 + refill·k)·scale)))``. The book refills by
``refill[p]`` of its depth per round (the forced flow's impact is transient; the shock's move is
permanent). Why re-centred and not stacked on the shock's own flow (``I(q0 + F) − I(q0)``, which under a
concave law makes the marginal impact vanish for a large shock): docs/cascade.md, "Where the forced flow
lands". Both factors are monotone, so every outcome stays monotone in the shock.

Rounds: ``price_0 = P_s``. Round k = 1, 2, …: every open victim whose liquidation
price the previous price has reached (``d·(liq − price_{k−1}) ≥ 0``) is taken over, in trigger order
(nearest first, ties by row). Its notional at the liquidation price, ``qty·liq``, is its market order.
Each is judged against the tentative price after all of the round's orders: ``gain = d·qty·(price' −
bankrupt)`` goes to the fund (a negative gain is paid from it). A position whose loss the fund can no
longer pay is **auto-deleveraged** instead: it leaves the market flow and is closed against the
opposite side's positions in ADL ranking order at its bankruptcy price (ranking frozen at the start).
Then ``F_k = F_{k−1} + flow_k`` and the round's price is set. The cascade stops at the first round with
no new liquidation. Every position is closed at most once (one pointer per path walks each queue).

Outputs per path: final price (after the last round with liquidations), liquidated USD, positions
closed, rounds, branching ratio (USD of round k+1 per USD of round k, pooled — the Harris estimator
``Σ_{k≥2} L_k / Σ_{k<K} L_k``; 0 for a one-round cascade, NaN with no liquidation), first-round USD,
insurance fund paid and received, ADL'd USD and counterparties; and per round up to ``r_max``:
price, liquidated USD, positions closed, fund paid, ADL'd USD.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perpscope.cascade.liquidity import MAX_MOVE
from perpscope.core.jit import njit


@dataclass(frozen=True, slots=True)
class PathsOut:
    """Kernel results; USD amounts, prices in USDT. Per-path arrays (n_paths,), per-round (n_paths, r_max)."""

    final_price: np.ndarray
    liq_usd: np.ndarray
    n_closed: np.ndarray
    rounds: np.ndarray
    branching: np.ndarray
    first_usd: np.ndarray
    fund_paid_usd: np.ndarray
    fund_gain_usd: np.ndarray
    adl_usd: np.ndarray
    adl_closed: np.ndarray
    step_price: np.ndarray  # (n_paths, r_max + 1): price_0 (after the shock) … price_r_max
    step_liq_usd: np.ndarray  # (n_paths, r_max): round 1 … r_max
    step_closed: np.ndarray
    step_fund_usd: np.ndarray
    step_adl_usd: np.ndarray


def _move(q_eff: float, cx: np.ndarray, cq: np.ndarray) -> float:
    n = len(cq)
    if q_eff >= cq[n - 1]:
        x = cx[n - 1] + (q_eff - cq[n - 1]) * (cx[n - 1] - cx[n - 2]) / (cq[n - 1] - cq[n - 2])
    else:
        j = 0
        while cq[j + 1] <= q_eff:
            j += 1
        x = cx[j] + (q_eff - cq[j]) * (cx[j + 1] - cx[j]) / (cq[j + 1] - cq[j])
    return min(x, MAX_MOVE)


def _forced(
    p_shock: float, d: int, f_cum: float, scale: float, refill: float, k: int, cx: np.ndarray, cq: np.ndarray
) -> float:
    """Price after forced flow ``f_cum`` at round k: the curve re-centred at the post-shock price, its
    depth ``scale·(1 + refill·k)``."""
    return p_shock * (1.0 - d * _move(f_cum / ((1.0 + refill * k) * scale), cx, cq))


# Deliberate twin (duplicates lists it): numba_kernel below takes the same arguments and computes the
# same thing compiled; this readable version is the oracle the tests hold it equal to. Keep both.
def reference_kernel(
    books: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    counter: list[tuple[np.ndarray, np.ndarray]],
    cx: np.ndarray,
    cq: np.ndarray,
    p0: float,
    d: int,
    member: np.ndarray,
    scale: np.ndarray,
    refill: np.ndarray,
    q0: np.ndarray,
    fund0: np.ndarray,
    r_max: int,
) -> PathsOut:
    """Readable reference: scans every position every round.

    ``books[m] = (liq, qty, bankrupt)`` are member m's victims (any order); ``counter[m] = (qty, rank)``
    its opposite-side positions for ADL (any order; highest rank first).
    """
    n_p = len(member)
    out = {k: np.zeros(n_p) for k in PathsOut.__dataclass_fields__ if not k.startswith("step_")}
    steps = {
        k: np.zeros((n_p, r_max)) for k in ("step_liq_usd", "step_closed", "step_fund_usd", "step_adl_usd")
    }
    step_price = np.full((n_p, r_max + 1), np.nan)
    for p in range(n_p):
        liq, qty, bank = books[member[p]]
        c_qty, c_rank = counter[member[p]]
        is_open = [True] * len(liq)
        c_left = [float(x) for x in c_qty]
        fund = float(fund0[p])
        f_cum = 0.0
        price = p_shock = p0 * (1.0 - d * _move(q0[p] / scale[p], cx, cq))
        step_price[p, 0] = price
        usd_by_round: list[float] = []
        k = 0
        while True:
            new = [i for i in range(len(liq)) if is_open[i] and d * (liq[i] - price) >= 0.0]
            if not new:
                break
            k += 1
            new.sort(key=lambda i: (-d * liq[i], i))  # trigger order: nearest first
            flow = sum(qty[i] * liq[i] for i in new)
            tentative = _forced(p_shock, d, f_cum + flow, scale[p], refill[p], k, cx, cq)
            usd = paid = adl = 0.0
            for i in new:
                is_open[i] = False
                usd += qty[i] * liq[i]
                gain = d * qty[i] * (tentative - bank[i])
                if fund + gain >= 0.0:
                    fund += gain
                    if gain < 0.0:
                        paid -= gain
                    else:
                        out["fund_gain_usd"][p] += gain
                    continue
                flow -= qty[i] * liq[i]  # auto-deleveraged: off the market, against the opposite side
                adl += qty[i] * bank[i]
                need = float(qty[i])
                while need > 0.0:
                    best = -1
                    for j in range(len(c_left)):
                        if c_left[j] > 0.0 and (best < 0 or c_rank[j] > c_rank[best]):
                            best = j
                    if best < 0:
                        break
                    take = min(need, c_left[best])
                    c_left[best] -= take
                    need -= take
                    if c_left[best] <= 0.0:
                        out["adl_closed"][p] += 1
            f_cum += flow
            price = _forced(p_shock, d, f_cum, scale[p], refill[p], k, cx, cq)
            usd_by_round.append(usd)
            out["liq_usd"][p] += usd
            out["n_closed"][p] += len(new)
            out["fund_paid_usd"][p] += paid
            out["adl_usd"][p] += adl
            if k <= r_max:
                step_price[p, k] = price
                steps["step_liq_usd"][p, k - 1] = usd
                steps["step_closed"][p, k - 1] = len(new)
                steps["step_fund_usd"][p, k - 1] = paid
                steps["step_adl_usd"][p, k - 1] = adl
        out["final_price"][p] = price
        out["rounds"][p] = k
        out["first_usd"][p] = usd_by_round[0] if usd_by_round else 0.0
        if not usd_by_round:
            out["branching"][p] = np.nan
        elif len(usd_by_round) > 1:
            out["branching"][p] = sum(usd_by_round[1:]) / sum(usd_by_round[:-1])
    return PathsOut(**out, step_price=step_price, **steps)


@njit(cache=True, nogil=True)
def _nb_move(q_eff, cx, cq):  # type: ignore[no-untyped-def]
    n = cq.shape[0]
    if q_eff >= cq[n - 1]:
        x = cx[n - 1] + (q_eff - cq[n - 1]) * (cx[n - 1] - cx[n - 2]) / (cq[n - 1] - cq[n - 2])
    else:
        j = np.searchsorted(cq, q_eff, side="right") - 1
        x = cx[j] + (q_eff - cq[j]) * (cx[j + 1] - cx[j]) / (cq[j + 1] - cq[j])
    return min(x, MAX_MOVE)


@njit(cache=True, nogil=True)
def _nb_forced(p_shock, d, f_cum, scale, refill, k, cx, cq):  # type: ignore[no-untyped-def]
    return p_shock * (1.0 - d * _nb_move(f_cum / ((1.0 + refill * k) * scale), cx, cq))


@njit(cache=True, nogil=True)
def _nb_paths(v_liq, v_qty, v_bank, v_key, v_cum, v_off, c_qty, c_off, cx, cq,  # type: ignore[no-untyped-def]
              p0, d, member, scale, refill, q0, fund0, r_max):  # fmt: skip
    """Victims pre-sorted in trigger order per member (offsets ``v_off``), counterparties by ADL rank
    (offsets ``c_off``): each path walks both with a pointer, touching only the positions it closes.
    A round's last victim is found by binary search on ``v_key = −d·liq`` (ascending) and its flow by
    the prefix sums ``v_cum`` of ``qty·liq``: one pass over the round's positions (the fund's)."""
    n_p = member.shape[0]
    final_price = np.zeros(n_p)
    liq_usd = np.zeros(n_p)
    n_closed = np.zeros(n_p)
    rounds = np.zeros(n_p)
    branching = np.zeros(n_p)
    first_usd = np.zeros(n_p)
    fund_paid_usd = np.zeros(n_p)
    fund_gain_usd = np.zeros(n_p)
    adl_usd = np.zeros(n_p)
    adl_closed = np.zeros(n_p)
    step_price = np.full((n_p, r_max + 1), np.nan)
    step_liq_usd = np.zeros((n_p, r_max))
    step_closed = np.zeros((n_p, r_max))
    step_fund_usd = np.zeros((n_p, r_max))
    step_adl_usd = np.zeros((n_p, r_max))
    for p in range(n_p):
        m = member[p]
        ptr = v_off[m]
        end = v_off[m + 1]
        cptr = c_off[m]
        cend = c_off[m + 1]
        c_left = c_qty[cptr] if cptr < cend else 0.0
        fund = fund0[p]
        f_cum = 0.0
        p_shock = p0 * (1.0 - d * _nb_move(q0[p] / scale[p], cx, cq))
        price = p_shock
        step_price[p, 0] = price
        k = 0
        total = 0.0
        prev = 0.0  # USD of the previous round
        num = 0.0
        den = 0.0
        while ptr < end and d * (v_liq[ptr] - price) >= 0.0:
            k += 1
            # d·(liq − price) ≥ 0  ⇔  −d·liq ≤ −d·price
            stop = ptr + np.searchsorted(v_key[ptr:end], -d * price, side="right")
            flow = v_cum[stop] - v_cum[ptr]
            tentative = _nb_forced(p_shock, d, f_cum + flow, scale[p], refill[p], k, cx, cq)
            usd = flow
            paid = 0.0
            adl = 0.0
            if fund == np.inf:  # an unlimited fund never deleverages: a branch-free pass
                got = 0.0
                for i in range(ptr, stop):
                    gain = d * v_qty[i] * (tentative - v_bank[i])
                    paid += max(-gain, 0.0)
                    got += max(gain, 0.0)
                fund_gain_usd[p] += got
            for i in range(ptr, stop if fund != np.inf else ptr):
                gain = d * v_qty[i] * (tentative - v_bank[i])
                if fund + gain >= 0.0:
                    fund += gain
                    if gain < 0.0:
                        paid -= gain
                    else:
                        fund_gain_usd[p] += gain
                    continue
                flow -= v_qty[i] * v_liq[i]
                adl += v_qty[i] * v_bank[i]
                need = v_qty[i]
                while need > 0.0 and cptr < cend:
                    take = min(need, c_left)
                    c_left -= take
                    need -= take
                    if c_left <= 0.0:
                        adl_closed[p] += 1
                        cptr += 1
                        c_left = c_qty[cptr] if cptr < cend else 0.0
            n_new = stop - ptr
            ptr = stop
            f_cum += flow
            price = _nb_forced(p_shock, d, f_cum, scale[p], refill[p], k, cx, cq)
            liq_usd[p] += usd
            n_closed[p] += n_new
            fund_paid_usd[p] += paid
            adl_usd[p] += adl
            if k == 1:
                first_usd[p] = usd
            else:
                num += usd
                den += prev
            prev = usd
            total += usd
            if k <= r_max:
                step_price[p, k] = price
                step_liq_usd[p, k - 1] = usd
                step_closed[p, k - 1] = n_new
                step_fund_usd[p, k - 1] = paid
                step_adl_usd[p, k - 1] = adl
        final_price[p] = price
        rounds[p] = k
        if k == 0:
            branching[p] = np.nan
        elif k > 1:
            branching[p] = num / den
    return (final_price, liq_usd, n_closed, rounds, branching, first_usd, fund_paid_usd, fund_gain_usd,
            adl_usd, adl_closed, step_price, step_liq_usd, step_closed, step_fund_usd,
            step_adl_usd)  # fmt: skip


# Deliberate twin of reference_kernel above (same signature, same results, compiled): the tests check
# one against the other, so a change to either is made to both.
def numba_kernel(
    books: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    counter: list[tuple[np.ndarray, np.ndarray]],
    cx: np.ndarray,
    cq: np.ndarray,
    p0: float,
    d: int,
    member: np.ndarray,
    scale: np.ndarray,
    refill: np.ndarray,
    q0: np.ndarray,
    fund0: np.ndarray,
    r_max: int,
) -> PathsOut:
    """The compiled kernel; arguments as :func:`reference_kernel`. Sorts each member's victims into
    trigger order and its counterparties into ADL order (stable, so ties keep row order) first."""
    packed = pack_books(books, counter, d)
    return run_packed(packed, cx, cq, p0, d, member, scale, refill, q0, fund0, r_max)


@dataclass(frozen=True, slots=True)
class PackedBooks:
    """Members' victims in trigger order and counterparties in ADL order, concatenated with offsets."""

    v_liq: np.ndarray
    v_qty: np.ndarray
    v_bank: np.ndarray
    v_key: np.ndarray  # −d·liq, ascending within each member
    v_cum: np.ndarray  # prefix sums of qty·liq over the concatenation (length + 1)
    v_off: np.ndarray
    c_qty: np.ndarray
    c_off: np.ndarray


def pack_books(
    books: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    counter: list[tuple[np.ndarray, np.ndarray]],
    d: int,
) -> PackedBooks:
    """Sort once per (books, direction); reuse for many calls of :func:`run_packed`."""
    vl, vq, vb, cqty = [], [], [], []
    for (liq, qty, bank), (c_qty, c_rank) in zip(books, counter, strict=True):
        o = np.argsort(-d * np.asarray(liq, np.float64), kind="stable")
        vl.append(np.asarray(liq, np.float64)[o])
        vq.append(np.asarray(qty, np.float64)[o])
        vb.append(np.asarray(bank, np.float64)[o])
        co = np.argsort(-np.asarray(c_rank, np.float64), kind="stable")
        cqty.append(np.asarray(c_qty, np.float64)[co])
    v_off = np.concatenate([[0], np.cumsum([len(x) for x in vl])]).astype(np.int64)
    c_off = np.concatenate([[0], np.cumsum([len(x) for x in cqty])]).astype(np.int64)
    cat = np.concatenate
    liq, qty = cat(vl), cat(vq)
    cum = np.concatenate([[0.0], np.cumsum(qty * liq)])
    return PackedBooks(liq, qty, cat(vb), -d * liq, cum, v_off, cat(cqty) if cqty else np.zeros(0), c_off)


def run_packed(
    pb: PackedBooks,
    cx: np.ndarray,
    cq: np.ndarray,
    p0: float,
    d: int,
    member: np.ndarray,
    scale: np.ndarray,
    refill: np.ndarray,
    q0: np.ndarray,
    fund0: np.ndarray,
    r_max: int,
) -> PathsOut:
    """Run the compiled kernel on packed books (see :func:`pack_books`)."""
    f64 = np.float64
    out = _nb_paths(
        pb.v_liq, pb.v_qty, pb.v_bank, pb.v_key, pb.v_cum, pb.v_off, pb.c_qty, pb.c_off,
        np.ascontiguousarray(cx, f64), np.ascontiguousarray(cq, f64), float(p0), int(d),
        np.ascontiguousarray(member, np.int64), np.ascontiguousarray(scale, f64),
        np.ascontiguousarray(refill, f64), np.ascontiguousarray(q0, f64), np.ascontiguousarray(fund0, f64),
        int(r_max),
    )  # fmt: skip
    return PathsOut(*out)


KERNELS = {"reference": reference_kernel, "numba": numba_kernel}
