"""Open interest in both units from every venue's documented payloads, and a cross-venue total that keeps
Bybit (whose history gives one unit and is valued at the mark price of the same instant)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from perpscope.metrics.open_interest import aggregate_oi
from perpscope.venues.binance import wire as binance
from perpscope.venues.bybit import wire as bybit
from perpscope.venues.hyperliquid import wire as hyperliquid

FIX = Path(__file__).resolve().parents[1] / "fixtures"


def _examples(venue: str, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((FIX / venue / name).read_text())  # type: ignore[no-any-return]


def test_every_venue_payload_gives_both_units() -> None:
    bn = binance.parse_open_interest_hist(
        _examples("binance", "rest_examples.json")["openInterestHist"], 300_000
    )
    by_ex = _examples("bybit", "examples.json")
    marks = bybit.parse_mark_prices(by_ex["markPriceKline"])
    (t,) = marks
    linear = {"retCode": 0, "result": {"list": [{"openInterest": "50000", "timestamp": str(t)}]}}
    by = bybit.parse_open_interest(linear, "BTCUSDT", 300_000, marks)
    ctx = hyperliquid.parse_meta_and_ctxs(_examples("hyperliquid", "examples.json")["metaAndAssetCtxs"])
    _, hl = hyperliquid.snapshot_records(ctx, 1_700_000_000_000)
    for name, df in (("binance", bn), ("bybit", by), ("hyperliquid", hl)):
        assert df.height > 0 and df["oi_base"].null_count() == 0 and df["oi_usd"].null_count() == 0, name
    # the USD value is the coins at the mark price of the same instant
    assert by["oi_usd"][0] == pytest.approx(50_000 * marks[t])


def test_the_usd_total_counts_bybit() -> None:
    bn = binance.parse_open_interest_hist(
        _examples("binance", "rest_examples.json")["openInterestHist"], 300_000
    )
    t = int(bn["ts_ms"].dt.epoch("ms")[0])
    rows = {"retCode": 0, "result": {"list": [{"openInterest": "20000", "timestamp": str(t)}]}}
    by = bybit.parse_open_interest(rows, "BTCUSDT", 300_000, {t: 56_000.0})
    unpriced = bybit.parse_open_interest(rows, "BTCUSDT", 300_000)  # before: no USD for linear history
    both = pl.concat([bn, by])
    usd = aggregate_oi(both, "usd").row(0, named=True)
    assert usd["n_venues"] == 2 and usd["n_missing"] == 0
    assert usd["oi_usd"] == pytest.approx(1927265695.27131325 + 20_000 * 56_000.0)
    before = aggregate_oi(pl.concat([bn, unpriced]), "usd").row(0, named=True)
    assert (before["n_venues"], before["n_missing"]) == (1, 1)  # visible, not silently dropped
    coins = aggregate_oi(both, "base").row(0, named=True)
    assert coins["oi_base"] == pytest.approx(34085.0 + 20_000.0) and coins["n_venues"] == 2
