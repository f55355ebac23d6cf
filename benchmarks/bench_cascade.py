"""Cascade benchmarks: 1,000,000 positions × 1,000 Monte Carlo paths, numba vs the readable reference.

Targets (issue 14): < 2 s for the whole Monte Carlo (1M positions, 1,000 paths, the book filtered, sorted
and packed, compile cached and excluded), and ≥ 100× faster than the reference kernel per path on the same
book (the reference scans every position every round; it is timed on one path, in this process,
interleaved with the compiled runs by ``best_of_each`` so the machine's drift hits both alike). The book is
synthetic (seeded): 1M isolated positions, half long, half short, liquidation prices 0.3–30% from a
100,000 price, sizes lognormal (≈ 11 B USD per side); liquidity is a square-root law with σ_d = 3%,
V_d = 20 B USD, Y = 1 (magnitudes like BTCUSDT). Only the shape matters to throughput.
"""

from __future__ import annotations

import numpy as np

from benchmarks.common import Result, best_of_each
from perpscope.cascade import CascadeConfig, Liquidity, PositionBook, Shock, SqrtImpact, simulate

N_POSITIONS = 1_000_000
N_PATHS = 1_000
PRICE = 100_000.0


def synthetic_book(n: int = N_POSITIONS, seed: int = 5) -> PositionBook:
    rng = np.random.default_rng(seed)
    side = np.where(np.arange(n) % 2 == 0, 1, -1).astype(np.int8)
    dist = np.exp(rng.uniform(np.log(0.003), np.log(0.3), n))
    liq = PRICE * (1.0 - side * dist)
    lev = rng.choice([5.0, 10.0, 20.0, 50.0, 100.0], n)
    entry = liq / (1.0 - side / lev + side * 0.004)
    qty = rng.lognormal(np.log(0.15), 1.0, n)
    return PositionBook(side, qty, entry, lev, liq, entry * (1.0 - side / lev), "synthetic")


def run() -> list[Result]:
    book = synthetic_book()
    curve = SqrtImpact(1.0, 0.0, 0.03, 20e9, 0).curve()
    liq = Liquidity(curve, curve, 0.3)
    shock = Shock("move", -0.03)
    simulate([book], PRICE, shock, liq, CascadeConfig(paths=2))  # load the cached compilation
    cfg = CascadeConfig(paths=N_PATHS)
    one = CascadeConfig(paths=1)
    ref = CascadeConfig(paths=1, engine="reference")
    t_mc, t_fast1, t_ref = best_of_each(
        [
            lambda: simulate([book], PRICE, shock, liq, cfg),
            lambda: simulate([book], PRICE, shock, liq, one),
            lambda: simulate([book], PRICE, shock, liq, ref),
        ],
        repeat=2,
    )
    res = simulate([book], PRICE, shock, liq, cfg)
    a = simulate([book], PRICE, shock, liq, one).out
    b = simulate([book], PRICE, shock, liq, CascadeConfig(paths=1, engine="reference")).out
    assert np.allclose(a.liq_usd, b.liq_usd, rtol=1e-9) and np.allclose(a.final_price, b.final_price)
    per_path_fast = t_mc / N_PATHS
    rounds = float(np.median(res.out.rounds))
    closed = float(np.median(res.out.n_closed))
    return [
        Result(
            f"cascade MC: {N_POSITIONS:,} positions × {N_PATHS:,} paths (median {rounds:.0f} rounds, "
            f"{closed:,.0f} closed)",
            t_mc,
            "s",
            "reference kernel, per path",
            t_ref / per_path_fast,
            "< 2 s, ≥ 100×",
        ),
        Result(
            f"cascade: one path on {N_POSITIONS:,} positions, numba (incl. sort) vs reference",
            t_fast1,
            "s",
            "reference kernel, same path",
            t_ref / t_fast1,
            "≥ 100×",
        ),
    ]


if __name__ == "__main__":
    for r in run():
        print(r.line())
