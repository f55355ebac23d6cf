"""Binance wire parsing: documented example payloads and recorded real force orders → records."""

from __future__ import annotations

import json

import polars as pl
import pytest
from binance_data import force_order_messages, rest_examples, ws_examples

from perpscope.records import CANDLES, FUNDING, LIQUIDATIONS, TRADES
from perpscope.venues.binance import wire
from perpscope.venues.payloads import WireError


def test_force_order_example_is_a_long_liquidation() -> None:
    # docs example: SELL 0.014 @ avg 9910 → a long position of 0.014 BTC was liquidated
    liq = wire.force_order(ws_examples()["forceOrder"])
    assert (liq.side, liq.price, liq.qty_base, liq.ts_ms) == ("long", 9910.0, 0.014, 1568014460893)
    assert liq.notional_usd == pytest.approx(138.74)
    assert liq.canonical == "BTC-USDT-PERP"


def test_stream_parser_handles_every_documented_event_wrapped_or_not() -> None:
    ex = ws_examples()
    p = wire.StreamParser(funding_sample_ms=0)
    rows = []
    for name in ("forceOrder", "markPriceUpdate", "aggTrade", "kline"):
        rows += p.parse(json.dumps({"stream": "x", "data": ex[name]}))
    kinds = [(s, rt) for s, rt, _ in rows]
    assert kinds == [
        ("liquidations", LIQUIDATIONS),
        ("funding", FUNDING),
        ("trades", TRADES),
        ("klines", CANDLES),
    ]
    fund = rows[1][2]
    assert (fund.rate, fund.mark_price, fund.kind, fund.interval_ms) == (
        0.00038167,
        11794.15,
        "sampled",
        8 * 3600_000,
    )
    trade = rows[2][2]
    assert trade.taker_side == "sell" and trade.trade_id == 5933014  # m=true: buyer was maker
    bar = rows[3][2]
    assert (bar.interval_ms, bar.open, bar.close, bar.trades) == (60_000, 0.001, 0.002, 100)


def test_open_kline_and_control_and_unknown_and_malformed_are_counted_not_raised() -> None:
    p = wire.StreamParser()
    k = ws_examples()["kline"]
    k = {**k, "k": {**k["k"], "x": False}}
    assert p.parse(json.dumps(k)) == []
    assert p.parse('{"result": null, "id": 1}') == []
    assert p.parse('{"e": "somethingNew", "E": 1}') == []
    assert p.parse("{not json") == []
    assert p.parse('{"e": "forceOrder", "o": {"s": "BTCUSDT"}}') == []  # truncated event
    assert p.parse("[1, 2]") == []
    assert (p.control, p.unknown, p.malformed) == (1, 1, 3)


def test_mark_price_sampling_keeps_one_row_per_symbol_per_minute() -> None:
    p = wire.StreamParser(funding_sample_ms=60_000)
    ev = ws_examples()["markPriceUpdate"]
    out = []
    for i in range(180):  # three minutes of 1 s updates
        out += p.parse(json.dumps({**ev, "E": 1562305380000 + i * 1000}))
    assert len(out) == 3


def test_rest_examples_parse_to_their_documented_values() -> None:
    ex = rest_examples()
    k = wire.parse_klines(ex["klines"], "BTCUSDT", 3600_000)
    assert k.row(0, named=True)["volume_base"] == pytest.approx(148976.11427815)
    m = wire.parse_klines(ex["klines"], "BTCUSDT", 3600_000, price_type="mark")
    assert m["volume_base"].is_null().all()
    oi = wire.parse_open_interest_hist(ex["openInterestHist"], 300_000)
    assert oi.row(0, named=True)["oi_usd"] == pytest.approx(1927265695.27131325)
    now = wire.parse_open_interest_now(ex["openInterest"], 100.0)
    assert (now.oi_base, now.oi_usd, now.interval_ms) == (10659.509, pytest.approx(1065950.9), 0)
    vol, ratio = wire.parse_taker_volume(ex["takerlongshortRatio"], "BTCUSDT", 300_000)
    # the value is stamped at the end of its 5-minute period; the bar is filed at its open
    assert vol["ts_ms"].dt.epoch("ms").to_list() == [1585614600000, 1583139600000]
    assert ratio["ratio"].to_list() == [1.5586, 1.3104]
    g = wire.parse_ratios(ex["globalLongShortAccountRatio"], "BTCUSDT", "global_accounts", 300_000)
    assert g.row(0, named=True)["long_share"] == 0.6622
    info = wire.parse_funding_info(ex["fundingInfo"])
    assert info.row(0) == ("BLZUSDT", 0.025, -0.025, 8 * 3600_000)
    f = wire.parse_funding_history(ex["fundingRate"])
    assert f["rate"].to_list() == [-0.0375, 0.0001] and f["interval_ms"].to_list() == [8 * 3600_000] * 2


def test_funding_interval_follows_the_spacing_of_settlements() -> None:
    rows = [
        {"symbol": "XUSDT", "fundingRate": "0.0001", "fundingTime": 1_700_000_000_000 + i * 4 * 3600_000 + 7}
        for i in range(3)
    ]
    f = wire.parse_funding_history(rows, {"XUSDT": 8 * 3600_000})
    assert f["interval_ms"].to_list() == [8 * 3600_000, 4 * 3600_000, 4 * 3600_000]
    assert f["ts_ms"].dt.epoch("ms").to_list()[0] == 1_700_000_000_000  # rounded to the second


def test_bad_rest_payload_names_the_row_and_field() -> None:
    with pytest.raises(WireError, match=r"klines .* at `\$\[0\]`"):
        wire.parse_klines([[1, "x"]], "BTCUSDT", 60_000)
    ex = rest_examples()
    good = ex["openInterestHist"][0]
    rows = [good, {k: v for k, v in good.items() if k != "sumOpenInterestValue"}]
    with pytest.raises(WireError, match=r"openInterestHist: .*sumOpenInterestValue.* `\$\[1\]`"):
        wire.parse_open_interest_hist(rows, 300_000)
    with pytest.raises(WireError, match=r"fundingRate: .*`\$\[0\]\.fundingRate`"):
        wire.parse_funding_history([{**ex["fundingRate"][0], "fundingRate": "n/a"}])
    with pytest.raises(WireError, match=r"openInterest: .*Binance pair"):
        wire.parse_open_interest_now({**ex["openInterest"], "symbol": "?"})


@pytest.mark.shared
def test_recorded_force_orders_convert_with_position_side(shared_data) -> None:  # type: ignore[no-untyped-def]
    msgs = force_order_messages(shared_data)
    p = wire.StreamParser()
    rows = [r for m in msgs for r in p.parse(json.dumps(m))]
    # Binance lists a symbol spelled in Chinese characters (币安人生USDT); symbols.py and the store's
    # folder names take ASCII only, so those events are counted as unusable instead of crashing
    ascii_msgs = [m for m in msgs if m["o"]["s"].isascii()]
    assert len(rows) == len(ascii_msgs) and p.malformed == len(msgs) - len(ascii_msgs) == 5
    df = LIQUIDATIONS.from_records([r for _, _, r in rows])
    sides = pl.Series([m["o"]["S"] for m in ascii_msgs])
    assert (df["side"] == pl.Series(["long" if s == "SELL" else "short" for s in sides])).all()
    assert (df["qty_base"] > 0).all() and (df["price"] > 0).all()
