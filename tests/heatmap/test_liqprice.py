"""Liquidation prices against the venues' own worked examples (oracles cited per test)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from perpscope.heatmap.liqprice import (
    BracketError,
    binance_isolated_factor,
    binance_liq_price,
    binance_liq_price_at,
    brackets_frame,
    bybit_liq_price,
    hyperliquid_liq_price,
    load_brackets,
    okx_liq_price,
    simple_liq_price,
    table_at,
)
from perpscope.records import LEVERAGE_BRACKETS


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


TABLES = load_brackets("binance_btcusdt")


def test_binance_isolated_worked_example_long_and_short() -> None:
    # Binance FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts": isolated 0.1 BTC at
    # 60,000 USDT with 600 USDT margin, MMR 0.4%, maintenance amount 0 → 54,216.87 long, 65,737.05 short.
    assert round(binance_liq_price_at("long", 0.1, 60_000, 600, 0.004, 0.0), 2) == 54_216.87
    assert round(binance_liq_price_at("short", 0.1, 60_000, 600, 0.004, 0.0), 2) == 65_737.05
    # the same through the bracket table (0.1 BTC ≈ 6,000 USDT notional: tier 1 in both versions)
    for table in TABLES:
        assert round(binance_liq_price("long", 0.1, 60_000, 600, table), 2) == 54_216.87
        assert round(binance_liq_price("short", 0.1, 60_000, 600, table), 2) == 65_737.05


def test_one_btc_long_at_100k_10x_exact_vs_simple() -> None:
    # 1 BTC long at 100,000, 10x isolated (margin 10,000), MMR 0.4%: exact 90,361.45; the simple
    # entry×(1 − 1/L + MMR) gives 90,400. The models use the exact one (liq_formula="binance-exact").
    t2025 = table_at(TABLES, ms("2025-09-01T00:00:00"))
    assert round(binance_liq_price("long", 1.0, 100_000, 10_000, t2025), 2) == 90_361.45
    assert round(100_000 * binance_isolated_factor("long", 10, 0.004), 2) == 90_361.45
    assert simple_liq_price("long", 100_000, 10, 0.004) == pytest.approx(90_400.0)
    # 2021-03-18 table: 100,000 USDT notional is tier 2 (0.5%, cum 50): (10,000+50−100,000)/(0.005−1)
    t2021 = table_at(TABLES, ms("2024-01-01T00:00:00"))
    assert round(binance_liq_price("long", 1.0, 100_000, 10_000, t2021), 2) == round(-89_950 / -0.995, 2)


def test_table_in_force_is_selected_by_time() -> None:
    assert table_at(TABLES, ms("2021-03-18T09:00:00")).effective_from_ms == ms("2021-03-18T09:00:00")
    assert table_at(TABLES, ms("2025-08-19T06:29:59")).effective_from_ms == ms("2021-03-18T09:00:00")
    assert table_at(TABLES, ms("2025-08-19T06:30:00")).effective_from_ms == ms("2025-08-19T06:30:00")
    with pytest.raises(BracketError, match="no bracket table in force"):
        table_at(TABLES, ms("2020-01-01T00:00:00"))


def test_2021_maintenance_amounts_follow_binance_rule() -> None:
    # cum_n = floor_n × (mmr_n − mmr_(n−1)) + cum_(n−1); same values as Binance's web front end in 2021
    cums = [t.maint_amount_usd for t in TABLES[0].tiers]
    assert cums == [0, 50, 1_300, 16_300, 266_300, 1_266_300, 2_516_300, 5_016_300, 25_016_300, 100_016_300]


def test_incomplete_2025_table_refuses_to_guess() -> None:
    t = TABLES[-1]
    assert not t.complete and t.tier_for(2_000_000).mmr == 0.0065
    with pytest.raises(BracketError, match="could not be sourced"):
        t.tier_for(5_000_000)


def test_tier_is_taken_at_the_liquidation_price() -> None:
    # 4.5 BTC long at 60,000 (270,000 USDT: tier 3 at entry) with little margin liquidates near 56k,
    # where 4.5 × LP ≈ 252k is still tier 3 (250k–1M) under the 2021 table; a smaller margin pushes the
    # notional at LP below 250k and the tier-2 rate must be used instead.
    t = TABLES[0]
    lp = binance_liq_price("long", 4.5, 60_000, 20_000, t)
    tier = t.tier_for(4.5 * lp)
    assert lp == pytest.approx(
        binance_liq_price_at("long", 4.5, 60_000, 20_000, tier.mmr, tier.maint_amount_usd)
    )


def test_cross_margin_other_positions_shift_the_price() -> None:
    base = binance_liq_price_at("long", 1, 50_000, 5_000, 0.004, 0)
    # other positions' maintenance margin eats the wallet; their profit adds to it
    assert binance_liq_price_at("long", 1, 50_000, 5_000, 0.004, 0, other_maint_margin=1_000) > base
    assert binance_liq_price_at("long", 1, 50_000, 5_000, 0.004, 0, other_upnl=1_000) < base


def test_bybit_usdt_isolated_worked_example() -> None:
    # Bybit Help Center "Liquidation Price (USDT Contract)": 1 BTC at 20,000, 50x, MMR 0.5% → 19,700 (long)
    assert bybit_liq_price("long", 20_000, 1, 50, 0.005) == pytest.approx(19_700)
    assert bybit_liq_price("short", 20_000, 1, 50, 0.005) == pytest.approx(20_300)


@pytest.mark.parametrize("side", ["long", "short"])
def test_hyperliquid_equity_equals_maintenance_at_liq_price(side: str) -> None:
    # Hyperliquid docs: maintenance margin = half the initial margin at max leverage
    entry, q, margin, max_lev = 60_000.0, 2.0, 6_000.0, 40.0
    lp = hyperliquid_liq_price(side, entry, q, margin, max_lev)  # type: ignore[arg-type]
    s = 1 if side == "long" else -1
    equity = margin + s * q * (lp - entry)
    assert equity == pytest.approx(q * lp / max_lev / 2)


@pytest.mark.parametrize("side", ["long", "short"])
def test_okx_margin_ratio_is_one_at_liq_price(side: str) -> None:
    entry, q, margin, mmr, fee = 30_000.0, 0.5, 1_500.0, 0.004, 0.0005
    lp = okx_liq_price(side, entry, q, margin, mmr, fee)  # type: ignore[arg-type]
    s = 1 if side == "long" else -1
    assert (margin + s * q * (lp - entry)) / (q * lp * (mmr + fee)) == pytest.approx(1.0)


def test_brackets_frame_fits_the_record_contract() -> None:
    df = brackets_frame(TABLES)
    assert tuple(df.columns) == LEVERAGE_BRACKETS.columns and df.height == 13
    assert LEVERAGE_BRACKETS.conform(df).height == 13
