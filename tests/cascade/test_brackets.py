"""``brackets_for``: each venue and symbol gets its own sourced table and formula, or a named stand-in."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from perpscope.cascade import book_from_heatmap, book_from_table
from perpscope.heatmap import OIChangeModel
from perpscope.heatmap.liqprice import (
    VENUE_FORMULAS,
    binance_isolated_factor,
    brackets_for,
    bybit_liq_price,
    hyperliquid_liq_price,
    liq_factor,
    okx_liq_price,
)
from perpscope.heatmap.models import MIXES, default_grid

T2025_10 = 1_760_054_400_000  # 2025-10-10 00:00 UTC
T2026_10 = 1_790_812_800_000  # 2026-10-01 00:00 UTC: the Hyperliquid BTC table is in force


def test_binance_btc_gets_its_own_sourced_table() -> None:
    b = brackets_for("BTC-USDT-PERP", "binance")
    assert not b.stand_in and b.formula == "binance"
    assert {t.symbol for t in b.tables} == {"BTCUSDT"} and len(b.tables) == 2
    note = b.note(T2025_10)
    assert note == "binance BTCUSDT brackets of 2025-08-19 (partial: to 3,000,000 USD), binance rules"
    assert "Binance announcement" in b.tables[-1].source  # each table carries its source
    assert brackets_for("BTCUSDT").tables == brackets_for("BTC").tables  # every spelling of the symbol


def test_xrp_has_its_own_table_with_the_announced_tiers() -> None:
    b = brackets_for("XRPUSDT", "binance", T2025_10)
    t = b.tables[0]
    assert not b.stand_in and t.symbol == "XRPUSDT" and not t.complete
    # 2024-08-27 announcement: tier 2 is 10,000 < notional ≤ 20,000 at 0.65%; cum = 10,000 × 0.15% = 15
    assert t.tier_for(15_000).mmr == 0.0065 and t.tier_for(15_000).maint_amount_usd == pytest.approx(15.0)
    assert "XRPUSDT brackets of 2024-08-27" in b.note(T2025_10)


@pytest.mark.parametrize(("symbol", "venue"), [("ETHUSDT", "binance"), ("SOL-USDT-PERP", "bybit"),
                                               ("BTC-USDT-PERP", "okx"), ("BTC", "gate")])  # fmt: skip
def test_without_a_sourced_table_the_output_names_the_stand_in(symbol: str, venue: str) -> None:
    b = brackets_for(symbol, venue, T2025_10)
    assert b.stand_in and b.tables[0].symbol == "BTCUSDT"
    note = b.note(T2025_10)
    assert f"no sourced {venue} {symbol} bracket table" in note and "binance BTCUSDT" in note
    assert b.formula == (venue if venue in VENUE_FORMULAS else "binance")


def test_hyperliquid_table_applies_only_from_when_it_was_seen() -> None:
    now = brackets_for("BTC", "hyperliquid")
    assert not now.stand_in and now.formula == "hyperliquid"
    tier = now.tables[0].tier_for(1e6)
    assert tier.max_leverage == 40 and tier.mmr == pytest.approx(1 / 80)  # half the initial margin at 40x
    then = brackets_for("BTC", "hyperliquid", T2025_10)
    assert then.stand_in and "stood in" in then.note(T2025_10)


@pytest.mark.parametrize("side", ["long", "short"])
@pytest.mark.parametrize("lev", [3.0, 10.0, 50.0])
def test_liq_factor_is_each_venues_formula_at_unit_entry(side: str, lev: float) -> None:
    mmr, cum = 0.005, 0.001
    assert liq_factor("binance", side, lev, mmr, cum) == binance_isolated_factor(side, lev, mmr, cum)  # type: ignore[arg-type]
    e, q = 64_000.0, 0.5
    assert liq_factor("bybit", side, lev, mmr, cum) * e == pytest.approx(
        bybit_liq_price(side, e, q, lev, mmr, cum * q * e)  # type: ignore[arg-type]
    )
    assert liq_factor("okx", side, lev, mmr) * e == pytest.approx(okx_liq_price(side, e, q, q * e / lev, mmr))  # type: ignore[arg-type]
    assert liq_factor("hyperliquid", side, lev, 1 / 80) * e == pytest.approx(
        hyperliquid_liq_price(side, e, q, q * e / lev, 40.0)  # type: ignore[arg-type]
    )
    # every venue liquidates a long below entry and a short above it, within the margin 1/L
    f = np.array([liq_factor(v, side, lev, mmr, cum) for v in VENUE_FORMULAS])  # type: ignore[arg-type]
    assert ((f < 1) if side == "long" else (f > 1)).all() and (np.abs(f - 1) <= 1 / lev).all()


def test_user_table_priced_by_the_venues_formula() -> None:
    df = pl.DataFrame({"side": ["long"], "entry": [60_000.0], "qty_base": [0.1], "leverage": [10.0]})
    hl = book_from_table(df, ts_ms=T2026_10, brackets=brackets_for("BTC", "hyperliquid", T2026_10))
    # Hyperliquid: 40x tier, maintenance 1.25%: 60,000 − (600 − 75) / 0.1 / (1 − 0.0125)
    assert hl.liq_price[0] == pytest.approx(60_000 - 5_250 / 0.9875)
    bn = book_from_table(df, ts_ms=T2025_10, brackets=brackets_for("BTCUSDT", "binance"))
    # Binance (2025-08-19 table, tier 1: 0.4%): 60,000 × 0.9 / 0.996 — the lower maintenance rate lets a
    # long fall further before it is taken over
    assert bn.liq_price[0] == pytest.approx(54_216.87, abs=0.01) and bn.liq_price[0] < hl.liq_price[0]


def test_heatmap_book_places_positions_by_the_venues_formula(sol_bars: pl.DataFrame) -> None:
    model = OIChangeModel(mix=MIXES["mid"])
    grid = default_grid(sol_bars, model)
    bn, _ = book_from_heatmap(model, sol_bars, grid=grid)
    by, _ = book_from_heatmap(model, sol_bars, grid=grid, brackets=brackets_for("SOL", "bybit"))
    # Binance (the model's own formula): every position sits at a bin mid. Bybit's rule (stand-in table,
    # its own formula EP·(1 ∓ 1/L ± MMR) minus the deduction) liquidates the same entries elsewhere.
    assert np.isin(np.round(bn.liq_price, 9), np.round(grid.mids, 9)).all()
    assert len(by) > 0 and not np.isin(np.round(by.liq_price, 9), np.round(grid.mids, 9)).all()
    tier = brackets_for("SOL", "bybit").tables[-1].tier_for(model.position_usd)
    s = by.side.astype(float)
    want = by.entry * (1 - s / by.leverage + s * tier.mmr - s * tier.maint_amount_usd / model.position_usd)
    np.testing.assert_allclose(by.liq_price, want, rtol=1e-12)
