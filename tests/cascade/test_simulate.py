"""Monte Carlo cascades and fragility curves on a real (bundled) SOLUSDT state."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from perpscope.cascade import (
    CascadeConfig,
    CascadeInputError,
    Liquidity,
    Shock,
    book_from_heatmap,
    fit_sqrt_impact,
    fragility,
    parse_shock,
    simulate,
)
from perpscope.heatmap import OIChangeModel, ensemble_members
from perpscope.heatmap.models import MIXES, default_grid


def test_parse_shock_reads_percent_fraction_and_usd() -> None:
    assert parse_shock("-3%") == Shock("move", -0.03)
    assert parse_shock(" +2.5 % ") == Shock("move", 0.025)
    assert parse_shock("-0.03") == Shock("move", -0.03)
    assert parse_shock("0.1") == Shock("move", 0.1) and parse_shock("-.05") == Shock("move", -0.05)
    assert parse_shock("-250M") == Shock("usd", -250e6)
    assert parse_shock("1.5busd") == Shock("usd", 1.5e9)
    assert parse_shock("-5,000usd") == Shock("usd", -5000.0) and parse_shock("+2k$") == Shock("usd", 2000.0)
    assert parse_shock("-3%").direction == 1 and parse_shock("+1k$").direction == -1


@pytest.mark.parametrize(
    ("text", "hint"),
    [("3", "Write +3% for a 3% move, or +3M"), ("-3", "Write -3% for a 3% move, or -3M"),
     ("-250000000", "-250000000usd"), ("1.5", "ambiguous")],
)  # fmt: skip
def test_parse_shock_refuses_an_ambiguous_bare_number_with_a_hint(text: str, hint: str) -> None:
    with pytest.raises(CascadeInputError, match="ambiguous") as e:
        parse_shock(text)
    assert hint in str(e.value)


@pytest.mark.parametrize("text", ["-0%", "0", "-120%", "-0.99", "down", "-3x"])
def test_parse_shock_refuses_nonsense(text: str) -> None:
    with pytest.raises(CascadeInputError, match="shock"):
        parse_shock(text)


@pytest.fixture(scope="module")
def sol_state(sol_bars: pl.DataFrame):  # type: ignore[no-untyped-def]
    members = ensemble_members(OIChangeModel(), bars=sol_bars, side_rules=("taker", "even"))[:4]
    grid = default_grid(sol_bars, OIChangeModel(mix=MIXES["low"]))
    books = [book_from_heatmap(m, sol_bars, grid=grid)[0] for m in members]
    close = float(sol_bars["close"][-1])
    fit = fit_sqrt_impact(sol_bars)
    c = fit.curve()
    return books, close, Liquidity(c, c, 0.3)


def test_simulate_reference_equals_numba_on_real_books(sol_state) -> None:  # type: ignore[no-untyped-def]
    books, close, liq = sol_state
    cfg = CascadeConfig(paths=24, insurance_usd=2e5)
    a = simulate(books, close, Shock("move", -0.06), liq, cfg)
    b = simulate(books, close, Shock("move", -0.06), liq, CascadeConfig(paths=24, insurance_usd=2e5,
                                                                        engine="reference"))  # fmt: skip
    np.testing.assert_allclose(a.out.liq_usd, b.out.liq_usd, rtol=1e-9)
    np.testing.assert_allclose(a.out.final_price, b.out.final_price, rtol=1e-12)
    s = a.summary()
    assert s["measure"].to_list()[:3] == ["final move", "added by the cascade", "liquidated USD"]
    added = s.filter(pl.col("measure") == "added by the cascade")
    fm = s.filter(pl.col("measure") == "final move")
    # a move shock: what the cascade added is the final move less the shock, on every quantile
    assert added["p50"][0] == pytest.approx(fm["p50"][0] + 0.06, abs=1e-12) and added["p50"][0] <= 0
    assert (a.out.liq_usd <= a.open_usd * 10).all()  # bounded by the largest member's open notional
    steps = a.steps_frame()
    assert steps["round"][0] == 0 and steps["price_p50"][0] == pytest.approx(close * 0.94)
    assert steps["paths_active"][0] == 24


def test_fragility_is_monotone_in_the_shock(sol_state) -> None:  # type: ignore[no-untyped-def]
    books, close, liq = sol_state
    f = fragility(books, close, liq, CascadeConfig(paths=64))
    assert f.height == 14 and set(f["direction"]) == {"down", "up"}
    for side in ("down", "up"):
        g = f.filter(pl.col("direction") == side).sort(pl.col("shock_pct").abs())
        for col in ("liq_usd_p10", "liq_usd_p50", "liq_usd_p90"):
            assert (np.diff(g[col].to_numpy()) >= -1e-6).all(), (side, col)
        mv = np.abs(g["final_move_pct_p50"].to_numpy())
        shock = np.abs(g["shock_pct"].to_numpy())
        assert (mv >= shock - 1e-9).all()  # a cascade only adds
        # where at least 90% of paths liquidate something, the forced flow moves the price beyond the
        # shock by a good share of what the impact law gives its median USD from the post-shock price
        # (depth draws and refill dilute it by a factor of order 1 — allowed: 4×). A cascade that adds
        # zero, or stacks its flow on the shock's (I(q0 + F) − I(q0): 10–70× less here), fails.
        fired = g["liq_usd_p10"].to_numpy() > 0
        assert fired.any(), side
        added = np.abs(g["added_move_pct_p50"].to_numpy())
        law = liq.curve(1 if side == "down" else -1)
        floor = 100.0 * (1 - shock / 100.0) * law.move_of(g["liq_usd_p50"].to_numpy()) / 4.0
        assert (added[fired] >= floor[fired]).all(), (side, added[fired], floor[fired])
        assert (g["amplification_p50"].to_numpy()[fired] > 1.0).all()
    assert 0.0 <= f["liq_share_p50"].max() <= 1.0


def test_forced_flow_moves_the_post_shock_price_by_i_of_f_on_real_books(sol_state) -> None:  # type: ignore[no-untyped-def]
    # Real SOLUSDT books and the sqrt law fitted on the same bars (concave): each path's final price is the
    # post-shock price moved by I(F / ((1 + ρK)·s)), F the liquidated USD (unlimited fund, no ADL).
    books, close, liq = sol_state
    res = simulate(books, close, Shock("move", -0.10), liq, CascadeConfig(paths=64))
    o, dr = res.out, res.draws
    ps = close * 0.90
    assert o.step_price[:, 0] == pytest.approx(np.full(64, ps))
    k = o.rounds
    want = ps * (1 - liq.bid.move_of(o.liq_usd / ((1 + dr.refill * k) * dr.scale)))
    np.testing.assert_allclose(o.final_price, want, rtol=1e-9)
    assert (o.liq_usd > 0).any() and (o.final_price[o.liq_usd > 0] < ps).all()


def test_bad_inputs_are_named(sol_state) -> None:  # type: ignore[no-untyped-def]
    books, _, liq = sol_state
    with pytest.raises(CascadeInputError, match="no position books"):
        simulate([], 1.0, Shock("move", -0.01), liq)
    with pytest.raises(CascadeInputError, match="positive"):
        simulate(books, math.nan, Shock("move", -0.01), liq)
