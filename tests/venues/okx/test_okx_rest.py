"""OKX REST history against a real loopback HTTP server, through the generic backfill."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "binance"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from binance_servers import FakeBinanceRest
from okx_data import EX, M, answer, candle_row

from perpscope.ingest.backfill import backfill, plan
from perpscope.store import Lake
from perpscope.store.reader import read
from perpscope.venues.okx.client import CAPABILITIES, OkxClient

H = 3600_000
T0 = 1_700_000_000_000 // H * H


def run(srv: FakeBinanceRest, lake: Lake, jobs):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        c = OkxClient(srv.url, backoff_s=0.01)
        try:
            return await backfill(c, lake, lake.root, jobs)
        finally:
            await c.aclose()

    return asyncio.run(go())


def test_klines_and_funding_backfill_with_a_rate_limit_answer(lake: Lake) -> None:
    candles = [candle_row(T0 + i * M) for i in range(250)]
    doc = EX["funding_rate_history"]["data"][0]
    funding = [
        {**doc, "instId": "BTC-USDT-SWAP", "fundingTime": str(T0 + i * 8 * H), "realizedRate": str(i * 1e-6)}
        for i in range(30)
    ]
    with FakeBinanceRest() as srv:
        srv.answer = answer(candles, funding)  # type: ignore[method-assign]
        srv.fault("/api/v5/market/history-candles", (429, {"Retry-After": "0"}))
        jobs, _ = plan(CAPABILITIES, ["klines:1m"], ["BTCUSDT"], T0, T0 + 250 * M, T0 + 300 * H)
        fjobs, _ = plan(CAPABILITIES, ["funding"], ["BTC-USDT-SWAP"], T0, T0 + 240 * H, T0 + 300 * H)
        rep = run(srv, lake, jobs + fjobs)
        assert len(srv.hits("/api/v5/public/instruments")) == 1  # contract sizes fetched once
        first = srv.hits("/api/v5/market/history-candles")[1][1]  # the retry after the 429
        assert (first["instId"], first["bar"], first["before"], first["after"]) == (
            "BTC-USDT-SWAP",
            "1m",
            str(T0 - 1),
            str(T0 + 100 * M),
        )
    assert rep.ok, [r.error for r in rep.results]
    c = read(lake, "candles", venue="okx")
    assert c.height == 250 and c["ts_ms"].dt.epoch("ms").to_list() == [T0 + i * M for i in range(250)]
    assert (c["canonical"] == "BTC-USDT-PERP").all()
    f = read(lake, "funding", venue="okx")
    assert f.height == 30 and (f["interval_ms"] == 8 * H).all()


def test_unknown_instrument_fails_the_job_plainly(lake: Lake) -> None:
    with FakeBinanceRest() as srv:
        srv.answer = answer()  # type: ignore[method-assign]
        jobs, _ = plan(CAPABILITIES, ["klines:1h"], ["NOPEUSDT"], T0, T0 + 10 * H, T0 + 20 * H)
        rep = run(srv, lake, jobs)
    assert not rep.ok and "NOPE-USDT-SWAP" in (rep.results[0].error or "")
