"""Hyperliquid info payloads → records, on the documented examples (tests/fixtures/hyperliquid)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perpscope.venues.hyperliquid import wire
from perpscope.venues.payloads import WireError

EX = json.loads(
    (Path(__file__).resolve().parents[2] / "fixtures" / "hyperliquid" / "examples.json").read_text()
)


def test_asset_contexts_give_hourly_sampled_funding_and_one_sided_open_interest() -> None:
    pairs = wire.parse_meta_and_ctxs(EX["metaAndAssetCtxs"])
    # the documented example: three coins, three contexts, matched by position
    assert [c for c, _ in pairs] == ["BTC", "ETH", "HPOS"]
    fund, oi = wire.snapshot_records(pairs, 1_700_000_000_000)
    assert fund["rate"].to_list() == [0.0000125] * 3  # "funding": "0.0000125" in each context
    f = fund.row(0, named=True)
    assert (f["rate"], f["interval_ms"], f["kind"], f["mark_price"]) == (
        0.0000125,
        3600_000,
        "sampled",
        14.3161,
    )
    assert f["canonical"] == "BTC-USDC-PERP"
    o = oi.row(0, named=True)
    assert (o["oi_base"], o["interval_ms"]) == (688.11, 0)
    assert o["oi_usd"] == pytest.approx(688.11 * 14.3161)
    # one-sided, not halved: openInterest × markPx
    # ETH:  1882.55 × 6.0436 = 11295.3 + 82.07918   = 11377.37918
    # HPOS: 2912.05 × 8.4542 = 23296.4 + 1322.65311 = 24619.05311
    assert oi["oi_base"].to_list() == [688.11, 1882.55, 2912.05]
    assert oi["oi_usd"].to_list()[1:] == [pytest.approx(11377.37918), pytest.approx(24619.05311)]
    assert wire.oracle_prices(pairs) == {"BTC": 14.32, "ETH": 6.0457, "HPOS": 8.4585}
    eth_only = wire.snapshot_records(pairs, 1, ["ETH"])[0]
    assert (eth_only.height, eth_only["mark_price"][0]) == (1, 6.0436)
    assert wire.snapshot_records(pairs, 1, ["SOL"])[0].height == 0


def test_funding_history_is_per_hour_and_rounded_to_the_second() -> None:
    f = wire.parse_funding_history(EX["fundingHistory"])
    r = f.row(0, named=True)
    assert (r["symbol"], r["rate"], r["interval_ms"], r["kind"]) == ("ETH", -0.00022196, 3600_000, "settled")
    assert f["ts_ms"].dt.epoch("ms").to_list() == [1683849600000]  # 1683849600076 → the hour


def test_candles() -> None:
    c = wire.parse_candles(EX["candleSnapshot"], "BTC", 900_000).row(0, named=True)
    assert (c["ts_ms"].timestamp() * 1000, c["open"], c["close"], c["volume_base"], c["trades"]) == (
        1681923600000,
        29295.0,
        29258.0,
        0.98639,
        189,
    )
    assert c["volume_quote"] is None


def test_symbols_and_bad_payloads() -> None:
    assert [wire.coin_of(s) for s in ("BTC", "BTCUSDT", "ETH-USDC-PERP", "solusdc")] == [
        "BTC",
        "BTC",
        "ETH",
        "sol",
    ]
    assert wire.coin_of("KPEPE", ["BTC", "kPEPE"]) == "kPEPE"
    with pytest.raises(ValueError, match="no perpetual 'NOPE'"):
        wire.coin_of("NOPE", ["BTC"])
    with pytest.raises(WireError, match=r"\[meta, assetCtxs\]"):
        wire.parse_meta_and_ctxs({"universe": []})
    with pytest.raises(WireError, match="2 contexts for 1 coins"):
        wire.parse_meta_and_ctxs([{"universe": [{"name": "BTC"}]}, [{}, {}]])
    with pytest.raises(WireError, match=r"fundingHistory: .*fundingRate.* at `\$\[0\]`"):
        wire.parse_funding_history([{"coin": "ETH", "time": 1}])
    with pytest.raises(WireError, match=r"candleSnapshot: .*at `\$\[0\]\.o`"):
        wire.parse_candles([{"t": 1, "o": "x", "h": "1", "l": "1", "c": "1", "v": "1"}], "BTC", 60_000)
    with pytest.raises(WireError, match=r"asset context of BTC: .*openInterest"):
        wire.snapshot_records([("BTC", {"funding": "0.0001", "markPx": "1"})], 1)
