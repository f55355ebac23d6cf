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


def test_parse_shock() -> None:
    assert parse_shock("-3%") == Shock("move", -0.03)
    assert parse_shock(" +2.5 % ") == Shock("move", 0.025)
    assert parse_shock("-250M") == Shock("usd", -250e6)
    assert parse_shock("1.5busd") == Shock("usd", 1.5e9)
    assert parse_shock("-3%").direction == 1 and parse_shock("+1k$").direction == -1
    for bad in ("3", "-0%", "-120%", "down"):
        if bad == "3":
            assert parse_shock(bad) == Shock("usd", 3.0)
            continue
        with pytest.raises(CascadeInputError):
            parse_shock(bad)


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
    assert s["measure"].to_list()[:2] == ["final move", "liquidated USD"]
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
        mv = g["final_move_pct_p50"].to_numpy()
        assert (np.abs(mv) >= np.abs(g["shock_pct"].to_numpy()) - 1e-9).all()  # a cascade only adds
    assert 0.0 <= f["liq_share_p50"].max() <= 1.0


def test_bad_inputs_are_named(sol_state) -> None:  # type: ignore[no-untyped-def]
    books, _, liq = sol_state
    with pytest.raises(CascadeInputError, match="no position books"):
        simulate([], 1.0, Shock("move", -0.01), liq)
    with pytest.raises(CascadeInputError, match="positive"):
        simulate(books, math.nan, Shock("move", -0.01), liq)
