"""Position books: a user's table priced with Binance's published worked example; heatmap books."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from perpscope.cascade import CascadeInputError, book_from_heatmap, book_from_table
from perpscope.heatmap import OIChangeModel, run_model
from perpscope.heatmap.models import MIXES, default_grid

T2024 = 1_704_067_200_000  # 2024-01-01: the 2021-03-18 BTCUSDT bracket table is in force


def test_user_table_matches_binance_worked_example() -> None:
    # Binance FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts": isolated 0.1 BTC at
    # 60,000 USDT with 600 USDT margin (tier 1, MMR 0.4%) → long 54,216.87, short 65,737.05.
    df = pl.DataFrame({"side": ["long", "short"], "entry": [60_000.0] * 2, "qty_base": [0.1] * 2,
                       "margin_usd": [600.0] * 2})  # fmt: skip
    b = book_from_table(df, ts_ms=T2024)
    assert np.round(b.liq_price, 2).tolist() == [54_216.87, 65_737.05]
    # bankruptcy: the margin is gone, entry ∓ 600 / 0.1
    assert b.bankrupt_price.tolist() == pytest.approx([54_000.0, 66_000.0])
    assert b.leverage.tolist() == pytest.approx([10.0, 10.0])
    assert b.open_usd(1) == pytest.approx(0.1 * 54_216.87, abs=1e-3)


def test_notional_and_leverage_form_is_the_same_position() -> None:
    a = pl.DataFrame({"side": ["long"], "entry": [60_000.0], "notional_usd": [6_000.0], "leverage": [10.0]})
    b = pl.DataFrame({"side": ["LONG"], "entry": [60_000.0], "qty_base": [0.1], "margin_usd": [600.0]})
    assert book_from_table(a, ts_ms=T2024).liq_price == pytest.approx(
        book_from_table(b, ts_ms=T2024).liq_price
    )


def test_bad_tables_say_what_is_missing() -> None:
    with pytest.raises(CascadeInputError, match="expected columns side, entry"):
        book_from_table(pl.DataFrame({"side": ["long"], "entry": [1.0]}), ts_ms=T2024)
    bad = pl.DataFrame({"side": ["up"], "entry": [1.0], "qty_base": [1.0], "leverage": [2.0]})
    with pytest.raises(CascadeInputError, match="'long' or 'short'"):
        book_from_table(bad, ts_ms=T2024)
    neg = pl.DataFrame({"side": ["long"], "entry": [1.0], "qty_base": [-1.0], "leverage": [2.0]})
    with pytest.raises(CascadeInputError, match="positive"):
        book_from_table(neg, ts_ms=T2024)


def test_heatmap_book_split_by_leverage_adds_up_to_the_model_book(sol_bars: pl.DataFrame) -> None:
    model = OIChangeModel(mix=MIXES["mid"])
    grid = default_grid(sol_bars, model)
    book, close = book_from_heatmap(model, sol_bars, grid=grid)
    whole = run_model(model, sol_bars, grid=grid)
    assert close == whole.last_close
    # the kernel is linear in the leverage weights: the per-leverage books sum to the full-mix book
    mids = grid.mids
    live_long = whole.out.final_long[mids < close].sum()
    live_short = whole.out.final_short[mids > close].sum()
    usd = book.qty_base * book.entry
    assert usd[book.side > 0].sum() == pytest.approx(live_long, rel=1e-9)
    assert usd[book.side < 0].sum() == pytest.approx(live_short, rel=1e-9)
    # every position sits on the right side of the price, bankruptcy beyond liquidation
    assert (book.liq_price[book.side > 0] < close).all() and (book.liq_price[book.side < 0] > close).all()
    assert (book.bankrupt_price[book.side > 0] < book.liq_price[book.side > 0]).all()
    assert (book.bankrupt_price[book.side < 0] > book.liq_price[book.side < 0]).all()
    assert set(np.unique(book.leverage)) <= set(MIXES["mid"].leverages)
