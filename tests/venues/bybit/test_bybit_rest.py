"""Bybit REST history against a real loopback HTTP server, through the generic backfill."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "binance"))

import pytest
from binance_servers import FakeBinanceRest

from perpscope.ingest.backfill import backfill, plan
from perpscope.store import Lake
from perpscope.store.reader import read
from perpscope.venues.bybit.client import CAPABILITIES, BybitClient

H = 3600_000
T0 = 1_700_000_000_000 // H * H


def envelope(rows: list[Any]) -> dict[str, Any]:
    return {"retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": rows}, "time": 0}


def test_funding_and_open_interest_backfill(lake: Lake) -> None:
    # an hourly-funding symbol (Bybit moves some symbols to 1 h): 300 settlements span two 200-row pages
    funding = [
        {"symbol": "PEPEUSDT", "fundingRate": "0.0001", "fundingRateTimestamp": str(T0 + i * H)}
        for i in range(300)
    ]
    oi = [{"openInterest": str(50_000 + i), "timestamp": str(T0 + i * 300_000)} for i in range(1000)]
    marks = {T0 + i * 300_000: 0.00001 * (1 + i / 1000) for i in range(1000)}

    with FakeBinanceRest() as srv:

        def answer(path: str, q: dict[str, str]) -> Any:
            s, e = int(q.get("startTime", q.get("start", 0))), int(q.get("endTime", q.get("end", 0)))
            if path == "/v5/market/instruments-info":
                assert q == {"category": "linear", "symbol": "PEPEUSDT"}
                return envelope([{"symbol": "PEPEUSDT", "fundingInterval": 60}])  # minutes
            if path == "/v5/market/funding/history":
                rows = [r for r in funding if s <= int(r["fundingRateTimestamp"]) <= e]
            elif path == "/v5/market/open-interest":
                assert q["intervalTime"] == "5min"
                rows = [r for r in oi if s <= int(r["timestamp"]) <= e]
            elif path == "/v5/market/mark-price-kline":
                assert q["interval"] == "5"
                rows = [[str(t), str(p), str(p), str(p), str(p)] for t, p in marks.items() if s <= t <= e]
                return envelope(rows[::-1][: int(q["limit"])])
            else:
                return None
            return envelope(rows[::-1][:200])  # newest first, like Bybit

        srv.answer = answer  # type: ignore[method-assign]
        jobs, _ = plan(
            CAPABILITIES, ["funding", "open_interest:5m"], ["PEPEUSDT"], T0, T0 + 800 * H, T0 + 900 * H
        )

        async def go():  # type: ignore[no-untyped-def]
            c = BybitClient(srv.url, backoff_s=0.01)
            try:
                return await backfill(c, lake, lake.root, jobs)
            finally:
                await c.aclose()

        rep = asyncio.run(go())
        assert len(srv.hits("/v5/market/instruments-info")) == 1  # once per symbol and client
        assert len(srv.hits("/v5/market/funding/history")) >= 2  # the pages each have a first row
    assert rep.ok, [r.error for r in rep.results]
    f = read(lake, "funding", venue="bybit")
    # every settlement, the first of each page included, pays for 1 h (it was stamped 8 h before)
    assert f.height == 300 and f["interval_ms"].to_list() == [H] * 300
    o = read(lake, "open_interest", venue="bybit").sort("ts_ms")
    assert o.height == 1000 and o["oi_base"].to_list() == [50_000.0 + i for i in range(1000)]
    # both units: the USD value at the mark price of the same instant
    want = [(50_000.0 + i) * 0.00001 * (1 + i / 1000) for i in range(1000)]
    assert o["oi_usd"].to_list() == pytest.approx(want)


def test_error_envelope_fails_the_job_with_bybits_message(lake: Lake) -> None:
    with FakeBinanceRest() as srv:
        srv.answer = lambda path, q: {
            "retCode": 10001,
            "retMsg": "params error: symbol invalid",
            "result": {},
        }  # type: ignore[method-assign]
        jobs, _ = plan(CAPABILITIES, ["funding"], ["NOPEUSDT"], T0, T0 + 10 * H, T0 + 20 * H)

        async def go():  # type: ignore[no-untyped-def]
            c = BybitClient(srv.url, backoff_s=0.01)
            try:
                return await backfill(c, lake, lake.root, jobs)
            finally:
                await c.aclose()

        rep = asyncio.run(go())
    assert not rep.ok and "params error" in (rep.results[0].error or "")
