"""OKX v5 wire parsing on the documented example payloads (tests/fixtures/okx/README.md)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from perpscope.venues import payloads
from perpscope.venues.okx import stats, wire
from perpscope.venues.okx.wire import OkxInstrument
from perpscope.venues.payloads import WireError

EX = json.loads((Path(__file__).resolve().parents[2] / "fixtures" / "okx" / "examples.json").read_text())
H = 3600_000


def instruments() -> dict[str, OkxInstrument]:
    out = wire.parse_instruments(EX["instruments_swap"])
    # not in the fixture: IOST-USDT-SWAP's contract size is given here (10 IOST per contract, assumed
    # for the test: the conversion rule is what is checked, contracts × ctVal × ctMult)
    out["IOST-USDT-SWAP"] = OkxInstrument(
        "IOST-USDT-SWAP", "IOST", "USDT", "perp", 10.0, 1.0, False, "IOST-USDT-PERP"
    )
    # BTC-USD-SWAP: 100 USD per contract (the ctVal example in OKX's instruments documentation)
    out["BTC-USD-SWAP"] = OkxInstrument(
        "BTC-USD-SWAP", "BTC", "USD", "perp", 100.0, 1.0, True, "BTC-USD-PERP"
    )
    return out


def test_instruments_give_the_contract_size() -> None:
    ins = wire.parse_instruments(EX["instruments_swap"])["BTC-USDT-SWAP"]
    # 0.01 BTC per contract: OKX's instruments documentation (ctVal field) and the recorded payload
    assert (ins.ct_val, ins.ct_mult, ins.inverse, ins.canonical) == (0.01, 1.0, False, "BTC-USDT-PERP")
    assert ins.base_qty(250) == pytest.approx(2.5)
    spot = wire.parse_instruments(EX["instruments_spot"])["BTC-USDT"]
    assert (spot.market, spot.canonical, spot.base_qty(0.3)) == ("spot", "BTC-USDT-SPOT", 0.3)


def test_inverse_contracts_need_a_price() -> None:
    inv = instruments()["BTC-USD-SWAP"]
    assert inv.base_qty(5, 50_000.0) == pytest.approx(5 * 100 / 50_000)
    with pytest.raises(ValueError, match="needs a price"):
        inv.base_qty(5)


def test_liquidation_records_the_position_side_in_base_units() -> None:
    p = wire.StreamParser(instruments())
    ((stream, _, liq),) = p.parse(json.dumps(EX["liquidation_orders"]))
    # documented example: order side buy, posSide short ⇒ a short position was liquidated
    assert (stream, liq.side, liq.ts_ms, liq.price) == ("liquidations", "short", 1692266434010, 0.007831)
    assert liq.qty_base == pytest.approx(13 * 10.0)  # 13 contracts × ctVal
    assert liq.notional_usd == pytest.approx(130 * 0.007831)
    assert (liq.symbol, liq.canonical) == ("IOST-USDT-SWAP", "IOST-USDT-PERP")


def test_sell_order_liquidates_a_long_and_contradictions_are_rejected() -> None:
    ins = instruments()["BTC-USDT-SWAP"]
    liq = wire.liquidation(
        ins, _detail({"side": "sell", "posSide": "net", "bkPx": "60000", "sz": "3", "ts": "1"})
    )
    assert (liq.side, liq.qty_base) == ("long", pytest.approx(0.03))
    with pytest.raises(ValueError, match="contradicts"):
        wire.liquidation(
            ins, _detail({"side": "sell", "posSide": "short", "bkPx": "1", "sz": "1", "ts": "1"})
        )


def _detail(d: dict[str, str]) -> wire.LiquidationDetail:
    """A ``details`` entry as the parser reads it (strings converted, as OKX sends numbers)."""
    return payloads.typed(d, wire.LiquidationDetail, "details")


def test_unknown_contract_size_is_counted_not_guessed() -> None:
    p = wire.StreamParser({})
    assert p.parse(json.dumps(EX["liquidation_orders"])) == []
    assert p.malformed == 1


def test_funding_push_is_a_sampled_rate_with_its_interval_and_the_mark_price() -> None:
    p = wire.StreamParser(instruments())
    mark = {
        "arg": {"channel": "mark-price", "instId": "BTC-USD-SWAP"},
        "data": [{"instType": "SWAP", "instId": "BTC-USD-SWAP", "markPx": "37000.5", "ts": "1700724675000"}],
    }
    assert p.parse(json.dumps(mark)) == []
    ((stream, _, f),) = p.parse(json.dumps(EX["funding_rate_push"]))
    # nextFundingTime − fundingTime = 1700755200000 − 1700726400000 = 8 h
    assert (stream, f.kind, f.interval_ms, f.rate, f.mark_price) == (
        "funding",
        "sampled",
        8 * H,
        0.0001875391284828,
        37000.5,
    )
    assert p.parse(json.dumps(EX["funding_rate_push"])) == []  # same minute: sampled once


def test_control_answers_errors_and_malformed_frames_are_counted() -> None:
    p = wire.StreamParser(instruments())
    assert p.parse(json.dumps(EX["funding_rate_subscribe_answer"])) == []
    assert p.parse(json.dumps(EX["funding_rate_error_answer"])) == []
    assert p.parse("pong") == []
    assert p.parse("{oops") == []
    assert p.parse('{"arg": {"channel": "books5", "instId": "BTC-USDT-SWAP"}, "data": []}') == []
    assert (p.control, p.malformed, p.unknown) == (3, 1, 1)
    assert p.errors and p.errors[0].startswith("60012")


def test_rest_funding_open_interest_and_statistics() -> None:
    ins = instruments()
    f = wire.parse_funding_history(EX["funding_rate_history"], ins["BTC-USD-SWAP"])
    # realizedRate is what was paid; settlements 8 h apart (1703059200000 − 1703030400000)
    assert f["rate"].to_list() == [0.0002279755647389, 0.0000746572360545]
    assert f["interval_ms"].to_list() == [8 * H, 8 * H]
    assert f["kind"].to_list() == ["settled", "settled"]
    assert wire.parse_funding_interval(EX["funding_rate"]) == 8 * H

    oi = wire.parse_open_interest(EX["open_interest"], ins).row(0, named=True)
    assert (oi["oi_base"], oi["oi_usd"]) == (pytest.approx(5000 * 0.01), 50000.0)  # contracts × ctVal

    hist = stats.parse_oi_history(EX["open_interest_history"], ins["BTC-USDT-SWAP"], 300_000)
    assert hist["ts_ms"].dt.epoch("ms").to_list() == [1701417500000, 1701417600000]
    assert hist["oi_base"][0] == pytest.approx(731377.57500501 * 0.01) and hist["oi_usd"][0] == 8888888.0

    r = stats.parse_ratio(EX["long_short_ratio"], ins["BTC-USDT-SWAP"], "global_accounts", 300_000)
    assert sorted(r["ratio"].to_list()) == [0.1236, 1.1739] and r["long_share"].is_null().all()

    vol, ratio = stats.parse_taker_volume(EX["taker_volume"], ins["BTC-USDT-SWAP"], 300_000)
    assert sorted(vol["buy_base"].to_list()) == [300.0, 380.0] and sorted(vol["sell_base"].to_list()) == [
        100.0,
        200.0,
    ]
    assert sorted(ratio["ratio"].to_list()) == [pytest.approx(1.9), pytest.approx(3.0)]
    assert (ratio["ts_ms"].dt.epoch("ms") == 1701417600000 + 300_000).all()  # known at the bar's end


def test_candles_keep_confirmed_bars_only() -> None:
    ins = instruments()["BTC-USDT-SWAP"]
    c = wire.parse_candles(EX["candles"], ins, 60_000)
    assert c.height == 1  # the first example bar is unconfirmed ("0")
    row = c.row(0, named=True)
    assert (row["open"], row["close"], row["volume_base"], row["volume_quote"]) == (
        3.731,
        3.72,
        67632347.24399722,  # volCcy: base units for swaps
        37632347.24399722,  # volCcyQuote
    )
    m = wire.parse_candles(EX["mark_price_candles"], ins, 60_000, "mark")
    assert m.height == 1 and m["price_type"][0] == "mark" and m["volume_base"].is_null().all()


def test_history_endpoints_examples_keep_both_confirmed_bars() -> None:
    # the endpoints backfill pages (history-candles, history-mark-price-candles): both example bars have
    # confirm "1", so both are kept; prices are the example's strings, volumes volCcy / volCcyQuote
    ins = instruments()["BTC-USDT-SWAP"]
    c = wire.parse_candles(EX["history_candles"], ins, 60_000)
    assert c["open"].to_list() == [3.721, 3.731] and c["close"].to_list() == [3.708, 3.72]
    assert c["volume_base"].to_list() == [22698348.04828491, 67632347.24399722]
    assert c["volume_quote"].to_list() == [12698348.04828491, 37632347.24399722]
    m = wire.parse_candles(EX["history_mark_price_candles"], ins, 60_000, "mark")
    assert m["high"].to_list() == [3.743, 3.799] and m["low"].to_list() == [3.677, 3.494]
    assert (m["price_type"] == "mark").all() and m["volume_base"].is_null().all()


def test_symbols_and_error_envelope() -> None:
    assert wire.inst_id("btcusdt") == "BTC-USDT-SWAP" and wire.inst_id("ETH-USD-SWAP") == "ETH-USD-SWAP"
    with pytest.raises(ValueError, match="BTC-USDT-SWAP"):
        wire.inst_id("BTCEUR")
    with pytest.raises(WireError, match="code 51001: Instrument ID does not exist"):
        wire.parse_open_interest({"code": "51001", "msg": "Instrument ID does not exist", "data": []}, {})


def test_rest_rows_that_do_not_fit_name_their_field() -> None:
    with pytest.raises(WireError, match=r"instruments: .*instId.* at `\$\[1\]`"):
        wire.parse_instruments({"code": "0", "data": [{"instId": "BTC-USDT", "instType": "SPOT"}, {}]})
    with pytest.raises(WireError, match=r"instrument 0: .*ctVal"):
        wire.parse_instruments({"code": "0", "data": [{"instId": "BTC-USDT-SWAP", "instType": "SWAP"}]})
    inst = wire.spot_instrument("BTC-USDT")
    with pytest.raises(WireError, match=r"funding history: .*`\$\[0\]\.fundingTime`"):
        wire.parse_funding_history({"code": "0", "data": [{"fundingTime": "soon"}]}, inst)
    with pytest.raises(WireError, match="funding history row 0: no realizedRate or fundingRate"):
        wire.parse_funding_history({"code": "0", "data": [{"fundingTime": "1", "realizedRate": ""}]}, inst)


def _with(frame: dict[str, Any], **row: Any) -> str:
    """``frame`` (a recorded push) as text, with fields of its first data row replaced."""
    f = copy.deepcopy(frame)
    f["data"][0].update(row)
    return json.dumps(f)


def test_websocket_rows_that_do_not_fit_are_counted_with_the_fields_path() -> None:
    p = wire.StreamParser(instruments())
    assert p.parse(_with(EX["funding_rate_push"], fundingRate="n/a")) == []
    assert p.rejected[-1] == "funding-rate: Expected `float`, got `str` - at `$[0].fundingRate`"
    liq = copy.deepcopy(EX["liquidation_orders"])
    liq["data"][0]["details"][0]["bkPx"] = ""
    assert p.parse(json.dumps(liq)) == []
    assert (
        p.rejected[-1] == "liquidation-orders data[0].details[0]: Expected `float`, got `str` - at `$.bkPx`"
    )
    mark = {"arg": {"channel": "mark-price"}, "data": [{"instId": "BTC-USD-SWAP", "ts": "1700724675000"}]}
    assert p.parse(json.dumps(mark)) == []
    assert p.rejected[-1] == "mark-price: Object missing required field `markPx` - at `$[0]`"
    assert p.malformed == 3 and not p.mark
    # the documented push itself still parses after the rejected ones
    assert [r[0] for r in p.parse(json.dumps(EX["funding_rate_push"]))] == ["funding"]


def test_a_rejected_push_does_not_take_its_instruments_sample() -> None:
    # the documented push with a bad rate, then the same push intact within the same minute: the intact
    # one is the minute's sample (a frame that does not parse must not silence the next good one)
    p = wire.StreamParser(instruments())
    assert p.parse(_with(EX["funding_rate_push"], fundingRate="")) == []
    ((stream, _, f),) = p.parse(json.dumps(EX["funding_rate_push"]))
    assert (stream, f.rate, p.malformed) == ("funding", 0.0001875391284828, 1)


def test_one_bad_liquidation_detail_keeps_the_frames_others() -> None:
    p = wire.StreamParser(instruments())
    liq = copy.deepcopy(EX["liquidation_orders"])
    good = liq["data"][0]["details"][0]
    liq["data"][0]["details"] = [{**good, "sz": "many"}, good]
    ((_, _, rec),) = p.parse(json.dumps(liq))
    assert (rec.side, rec.qty_base, p.malformed) == ("short", pytest.approx(130.0), 1)
    assert p.rejected[-1].startswith("liquidation-orders data[0].details[0]:") and "`$.sz`" in p.rejected[-1]


def test_rest_open_interest_row_that_does_not_fit_names_its_field() -> None:
    bad = copy.deepcopy(EX["open_interest"])
    bad["data"][0]["oi"] = "lots"
    with pytest.raises(WireError, match=r"open-interest: .*`\$\[0\]\.oi`"):
        wire.parse_open_interest(bad, instruments())
