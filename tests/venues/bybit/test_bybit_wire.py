"""Bybit v5 wire parsing on the documented example payloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perpscope.core.time import HOUR_MS
from perpscope.venues.bybit import wire
from perpscope.venues.payloads import WireError

EX = json.loads((Path(__file__).resolve().parents[2] / "fixtures" / "bybit" / "examples.json").read_text())


def test_all_liquidation_side_is_the_position_side() -> None:
    p = wire.StreamParser()
    ((stream, _, liq),) = p.parse(json.dumps(EX["allLiquidation"]))
    # Bybit publishes the position side: Sell ⇒ a short was liquidated (the opposite of Binance)
    assert (stream, liq.side, liq.qty_base, liq.price, liq.ts_ms) == (
        "liquidations",
        "short",
        20000.0,
        0.04499,
        1739502302929,
    )
    assert liq.canonical == "ROSE-USDT-PERP" and liq.notional_usd == pytest.approx(899.8)


def test_inverse_sizes_are_usd_contracts_converted_to_base() -> None:
    liq = wire.liquidation({"T": 1, "s": "BTCUSD", "S": "Buy", "v": "10000", "p": "100000"})
    assert (liq.side, liq.qty_base, liq.notional_usd) == ("long", 0.1, pytest.approx(10000.0))


def test_control_unknown_and_malformed_frames_are_counted() -> None:
    p = wire.StreamParser()
    assert p.parse('{"success": true, "ret_msg": "", "op": "subscribe", "conn_id": "x"}') == []
    assert p.parse('{"topic": "tickers.BTCUSDT", "data": {}}') == []
    assert p.parse("not json") == []
    assert p.parse('{"topic": "allLiquidation.BTCUSDT", "data": [{"s": "BTCUSDT"}]}') == []
    assert (p.control, p.unknown, p.malformed) == (1, 1, 2)
    assert json.loads(wire.subscribe_message(["btcusdt"])) == {
        "op": "subscribe",
        "args": ["allLiquidation.BTCUSDT"],
    }


def test_rest_examples() -> None:
    f = wire.parse_funding_history(EX["fundingHistory"], 8 * HOUR_MS)
    assert f.row(0, named=True)["canonical"] == "ETH-USDC-PERP" and f["rate"].to_list() == [0.0001]
    marks = {1669571100000: 16_500.0, 1669571400000: 16_600.0}
    oi = wire.parse_open_interest(EX["openInterest"], "BTCUSD", 300_000, marks)
    assert oi["oi_usd"].to_list() == [461134292.0, 461134384.0]  # oldest first; inverse OI is USD
    # …and its coins at the mark price of the same instant
    assert oi["oi_base"].to_list() == pytest.approx([461134292.0 / 16_500.0, 461134384.0 / 16_600.0])
    k = wire.parse_klines(EX["kline"], "BTCUSD", 3600_000)
    assert k["ts_ms"].dt.epoch("ms").to_list() == [1670601600000, 1670605200000, 1670608800000]
    last = k.row(2, named=True)
    assert (last["volume_base"], last["volume_quote"]) == (15.74462667, 268611.0)


def test_instruments_info_funding_interval_is_minutes() -> None:
    assert wire.parse_funding_intervals(EX["instrumentsInfo"]) == {"BTCUSDT": 8 * HOUR_MS}
    hourly = {"retCode": 0, "result": {"list": [{"symbol": "PEPEUSDT", "fundingInterval": 60}]}}
    assert wire.parse_funding_intervals(hourly) == {"PEPEUSDT": HOUR_MS}


def test_first_settlement_of_a_page_takes_the_instruments_interval() -> None:
    # one 1 h symbol's page: the first row has no predecessor on the page
    rows = [
        {
            "symbol": "PEPEUSDT",
            "fundingRate": "0.0008",
            "fundingRateTimestamp": str(1_700_000_000_000 + i * HOUR_MS),
        }
        for i in range(3)
    ][::-1]
    obj = {"retCode": 0, "result": {"category": "linear", "list": rows}}
    f = wire.parse_funding_history(obj, HOUR_MS)
    assert f["interval_ms"].to_list() == [HOUR_MS] * 3  # was 8 h for the first row: its rate_8h 8× too small


def test_linear_open_interest_in_both_units_at_the_documented_mark_price() -> None:
    marks = wire.parse_mark_prices(EX["markPriceKline"])
    assert marks == {1670608800000: 17164.16}  # the open of the bar starting at that instant
    obj = {"retCode": 0, "result": {"list": [{"openInterest": "50000", "timestamp": "1670608800000"}]}}
    row = wire.parse_open_interest(obj, "BTCUSDT", 300_000, marks).row(0, named=True)
    assert (row["oi_base"], row["oi_usd"]) == (50_000.0, pytest.approx(50_000.0 * 17164.16))
    alone = wire.parse_open_interest(obj, "BTCUSDT", 300_000).row(0, named=True)
    assert (alone["oi_base"], alone["oi_usd"]) == (50_000.0, None)  # no price: the USD stays unknown


def test_error_envelope_says_what_bybit_said() -> None:
    with pytest.raises(WireError, match="retCode 10001: params error"):
        wire.parse_klines({"retCode": 10001, "retMsg": "params error", "result": {}}, "BTCUSDT", 60_000)


def test_a_row_that_does_not_fit_names_its_field() -> None:
    bad = {"retCode": 0, "result": {"list": [{"openInterest": "5", "timestamp": "1"}, {"openInterest": "x"}]}}
    with pytest.raises(WireError, match=r"open interest: .*`\$\.list\[1\]"):
        wire.parse_open_interest(bad, "BTCUSDT", 300_000)
    short = {"retCode": 0, "result": {"list": [["1670608800000", "17071", "17073"]]}}
    with pytest.raises(WireError, match=r"kline .* at `\$\.list\[0\]`"):
        wire.parse_klines(short, "BTCUSDT", 3600_000)
