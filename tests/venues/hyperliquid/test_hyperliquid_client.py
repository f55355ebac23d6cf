"""Hyperliquid backfill and polled live capture against a real loopback HTTP server, with faults."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hyperliquid_server import FakeHyperliquidInfo

from perpscope.ingest.backfill import backfill, plan
from perpscope.ingest.live import Collector, LiveConfig
from perpscope.store import Lake
from perpscope.store.reader import read
from perpscope.venues.hyperliquid.client import CAPABILITIES, HyperliquidClient
from perpscope.venues.hyperliquid.live import HyperliquidLive

EX = json.loads(
    (Path(__file__).resolve().parents[2] / "fixtures" / "hyperliquid" / "examples.json").read_text()
)
H = 3600_000
T0 = 1_700_000_000_000 // H * H
META = {"universe": [{"name": "BTC", "szDecimals": 5, "maxLeverage": 50}, {"name": "kPEPE", "szDecimals": 0}]}


def answer(funding: list[dict[str, Any]], candles: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
    def ans(path: str, body: dict[str, Any]) -> Any:
        assert path == "/info"
        kind = body.get("type")
        if kind == "meta":
            return META
        if kind == "metaAndAssetCtxs":
            ctx = EX["metaAndAssetCtxs"][1][0]
            return [META, [ctx, {**ctx, "funding": "-0.00001", "openInterest": "5", "markPx": "0.01"}]]
        if kind == "fundingHistory":
            rows = [
                r
                for r in funding
                if r["coin"] == body["coin"] and body["startTime"] <= r["time"] <= body["endTime"]
            ]
            return rows[:500]
        if kind == "candleSnapshot":
            req = body["req"]
            return [
                c for c in candles if c["s"] == req["coin"] and req["startTime"] <= c["t"] <= req["endTime"]
            ][:5000]
        return None

    return ans


def test_funding_and_candle_backfill_pages_and_survives_a_429(lake: Lake) -> None:
    doc = EX["fundingHistory"][0]
    # hourly settlements stamped a few ms late, as Hyperliquid stamps them
    funding = [
        {**doc, "coin": "kPEPE", "time": T0 + i * H + 76, "fundingRate": str(i * 1e-7)} for i in range(1200)
    ]
    c0 = EX["candleSnapshot"][0]
    candles = [{**c0, "s": "BTC", "i": "1h", "t": T0 + i * H, "T": T0 + (i + 1) * H - 1} for i in range(6000)]
    with FakeHyperliquidInfo() as srv:
        srv.answer = answer(funding, candles)  # type: ignore[method-assign]
        srv.fault("fundingHistory", (429, {"Retry-After": "0"}))
        jobs, _ = plan(CAPABILITIES, ["funding"], ["KPEPE"], T0, T0 + 1200 * H, T0 + 7000 * H)
        kjobs, _ = plan(CAPABILITIES, ["klines:1h"], ["BTCUSDT"], T0, T0 + 6000 * H, T0 + 7000 * H)

        async def go():  # type: ignore[no-untyped-def]
            c = HyperliquidClient(srv.url, backoff_s=0.01)
            try:
                return await backfill(c, lake, lake.root, jobs + kjobs)
            finally:
                await c.aclose()

        rep = asyncio.run(go())
        assert len(srv.hits("fundingHistory")) == 1 + 3  # the 429, then 500 + 500 + 200 rows
        assert len(srv.hits("candleSnapshot")) == 2  # windows of 5,000 bars
    assert rep.ok, [r.error for r in rep.results]
    f = read(lake, "funding", venue="hyperliquid")
    assert f.height == 1200 and (f["interval_ms"] == H).all() and (f["symbol"] == "kPEPE").all()
    assert f["ts_ms"].dt.epoch("ms").to_list() == [T0 + i * H for i in range(1200)]
    k = read(lake, "candles", venue="hyperliquid")
    assert k.height == 6000 and (k["canonical"] == "BTC-USDC-PERP").all()


def test_polls_share_one_snapshot_and_recover_from_garbage(lake: Lake) -> None:
    with FakeHyperliquidInfo() as srv:
        srv.answer = answer([], [])  # type: ignore[method-assign]
        srv.fault("metaAndAssetCtxs", ("garbage", None))

        async def go() -> Collector:
            client = HyperliquidClient(srv.url, backoff_s=0.01)
            feed = HyperliquidLive(client, ["BTCUSDT", "KPEPE"], ["funding", "open_interest"], poll_s=0.3)
            col = Collector([feed], lake, lake.root, LiveConfig(flush_seconds=0.1, backoff_s=0.05))
            task = asyncio.create_task(col.run())
            t = time.monotonic()
            while col.sink.written.get(("hyperliquid", "open_interest"), 0) < 2 and time.monotonic() - t < 10:
                await asyncio.sleep(0.02)
            col.stop()
            await asyncio.wait_for(task, 10)
            return col

        col = asyncio.run(go())
        snaps = len(srv.hits("metaAndAssetCtxs"))
    assert col.venues["hyperliquid"].fatal is None
    oi = read(lake, "open_interest", venue="hyperliquid")
    fund = read(lake, "funding", venue="hyperliquid")
    assert set(oi["symbol"]) == {"BTC", "kPEPE"} and set(fund["kind"]) == {"sampled"}
    polls = (
        col.streams[("hyperliquid", "funding")].messages
        + col.streams[("hyperliquid", "open_interest")].messages
    )
    assert snaps - 1 <= polls / 2 + 1  # one request (after the garbage answer's retry) serves both polls
