"""Bybit REST history against a real loopback HTTP server, through the generic backfill."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "binance"))

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
    funding = [
        {"symbol": "BTCUSDT", "fundingRate": "0.0001", "fundingRateTimestamp": str(T0 + i * 8 * H)}
        for i in range(100)
    ]
    oi = [{"openInterest": str(50_000 + i), "timestamp": str(T0 + i * 300_000)} for i in range(1000)]

    with FakeBinanceRest() as srv:

        def answer(path: str, q: dict[str, str]) -> Any:
            s, e = int(q.get("startTime", 0)), int(q.get("endTime", 0))
            if path == "/v5/market/funding/history":
                rows = [r for r in funding if s <= int(r["fundingRateTimestamp"]) <= e]
            elif path == "/v5/market/open-interest":
                assert q["intervalTime"] == "5min"
                rows = [r for r in oi if s <= int(r["timestamp"]) <= e]
            else:
                return None
            return envelope(rows[::-1][:200])  # newest first, like Bybit

        srv.answer = answer  # type: ignore[method-assign]
        jobs, _ = plan(
            CAPABILITIES, ["funding", "open_interest:5m"], ["BTCUSDT"], T0, T0 + 800 * H, T0 + 900 * H
        )

        async def go():  # type: ignore[no-untyped-def]
            c = BybitClient(srv.url, backoff_s=0.01)
            try:
                return await backfill(c, lake, lake.root, jobs)
            finally:
                await c.aclose()

        rep = asyncio.run(go())
    assert rep.ok, [r.error for r in rep.results]
    f = read(lake, "funding", venue="bybit")
    assert f.height == 100 and (f["interval_ms"][1:] == 8 * H).all()
    o = read(lake, "open_interest", venue="bybit")
    assert o.height == 1000 and o["oi_base"].to_list() == [50_000.0 + i for i in range(1000)]


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
