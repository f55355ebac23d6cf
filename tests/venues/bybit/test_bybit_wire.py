"""Bybit v5 wire parsing on the documented example payloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perpscope.venues.bybit import wire

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
    f = wire.parse_funding_history(EX["fundingHistory"])
    assert f.row(0, named=True)["canonical"] == "ETH-USDC-PERP" and f["rate"].to_list() == [0.0001]
    oi = wire.parse_open_interest(EX["openInterest"], "BTCUSD", 300_000, price=16_500.0)
    assert oi["oi_usd"].to_list() == [461134292.0, 461134384.0]  # oldest first; inverse OI is USD
    assert oi["oi_base"][0] == pytest.approx(461134292.0 / 16_500.0)
    k = wire.parse_klines(EX["kline"], "BTCUSD", 3600_000)
    assert k["ts_ms"].dt.epoch("ms").to_list() == [1670601600000, 1670605200000, 1670608800000]
    last = k.row(2, named=True)
    assert (last["volume_base"], last["volume_quote"]) == (15.74462667, 268611.0)


def test_error_envelope_says_what_bybit_said() -> None:
    with pytest.raises(wire.WireError, match="retCode 10001: params error"):
        wire.parse_klines({"retCode": 10001, "retMsg": "params error", "result": {}}, "BTCUSDT", 60_000)
