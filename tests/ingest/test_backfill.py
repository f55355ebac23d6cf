"""Backfill against a real loopback Binance REST server: paging into the store, checkpoints, resume,
history limits, region blocks."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "venues" / "binance"))

from binance_data import btc_funding, btc_oi_4h
from binance_servers import FakeBinanceRest

from perpscope.ingest.backfill import BackfillProgress, backfill, plan
from perpscope.ingest.state import Checkpoints
from perpscope.store import Lake
from perpscope.store.reader import read
from perpscope.venues.binance.client import CAPABILITIES, BinanceClient, BinanceUrls

H = 3600_000
T0 = 1_700_000_000_000 // H * H
NOW = T0 + 5000 * H


def klines(n: int) -> list[list[object]]:
    return [
        [T0 + i * H, "1", "2", "0.5", "1.5", "10", T0 + (i + 1) * H - 1, "15", 3, "4", "6", "0"]
        for i in range(n)
    ]


def run(srv: FakeBinanceRest, lake: Lake, streams: list[str], since: int, until: int, now: int = NOW, **kw):  # type: ignore[no-untyped-def]
    jobs, notes = plan(CAPABILITIES, streams, ["BTCUSDT"], since, until, now)

    async def go():  # type: ignore[no-untyped-def]
        c = BinanceClient(BinanceUrls(srv.url, srv.url, "ws://x"), backoff_s=0.01, retries=2)
        try:
            return await backfill(c, lake, lake.root, jobs, **kw)
        finally:
            await c.aclose()

    return asyncio.run(go()), notes


def test_klines_backfill_writes_every_bar_once_and_is_idempotent(lake: Lake) -> None:
    with FakeBinanceRest() as srv:
        srv.klines["BTCUSDT"] = klines(4000)
        seen: list[BackfillProgress] = []
        rep, _ = run(srv, lake, ["klines:1h"], T0, T0 + 4000 * H, progress=seen.append)
        assert rep.ok and rep.rows_added == 4000
        assert seen[-1].finished and seen[-1].done_ms == seen[-1].total_ms
        df = read(lake, "candles", venue="binance", symbol="BTC-USDT-PERP")
        assert df.height == 4000 and df["ts_ms"].is_unique().all()
        rep2, _ = run(srv, lake, ["klines:1h"], T0, T0 + 4000 * H)
        assert rep2.ok and rep2.rows_added == 0  # resumed past the end: nothing to fetch
        assert "resumed" in rep2.results[0].notes[0]


def test_interrupted_backfill_resumes_from_its_checkpoint(lake: Lake) -> None:
    with FakeBinanceRest() as srv:
        srv.klines["BTCUSDT"] = klines(4500)
        # third request fails for good (after the retries): pages 1–2 are written and checkpointed
        calls = {"n": 0}
        orig = srv.answer

        def flaky(path, q):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] >= 2:  # answer this one, refuse every later one
                srv.always[path] = (503, {})
            return orig(path, q)

        srv.answer = flaky  # type: ignore[method-assign]
        rep, _ = run(srv, lake, ["klines:1h"], T0, T0 + 4500 * H, flush_rows=1)
        assert not rep.ok and "503" in (rep.results[0].error or "")
        cp = Checkpoints(lake.root).get("binance/klines:1h/BTCUSDT")
        assert cp is not None and cp.next_ms == T0 + 3000 * H
        srv.always.clear()
        srv.answer = orig  # type: ignore[method-assign]
        n_before = len(srv.hits("/fapi/v1/klines"))
        rep2, _ = run(srv, lake, ["klines:1h"], T0, T0 + 4500 * H)
        assert rep2.ok and rep2.rows_added == 1500
        first = srv.hits("/fapi/v1/klines")[n_before][1]
        assert int(first["startTime"]) == T0 + 3000 * H  # no page fetched twice
        assert read(lake, "candles").height == 4500


@pytest.mark.shared
def test_open_interest_older_than_30_days_is_clipped_with_a_pointer_to_the_archive(
    shared_data, lake: Lake
) -> None:  # type: ignore[no-untyped-def]
    rows = btc_oi_4h(shared_data)
    now = int(rows[-1]["timestamp"]) + H
    with FakeBinanceRest() as srv:
        srv.stats["/futures/data/openInterestHist"] = {"BTCUSDT": rows}
        rep, notes = run(srv, lake, ["open_interest:4h"], now - 90 * 24 * H, now, now=now)
        assert rep.ok
        assert "last 30 days only" in notes[0] and "perpscope download --dataset metrics" in notes[0]
        df = read(lake, "open_interest", venue="binance")
        assert df.height == rep.rows_added > 100
        assert df["ts_ms"].dt.epoch("ms").min() >= now - 30 * 24 * H
        # OI value / OI is a BTC price
        assert 50_000 < (df["oi_usd"] / df["oi_base"]).median() < 130_000  # type: ignore[operator]


@pytest.mark.shared
def test_funding_backfill_of_real_settlements(shared_data, lake: Lake) -> None:  # type: ignore[no-untyped-def]
    with FakeBinanceRest() as srv:
        srv.funding = btc_funding(shared_data)
        rep, _ = run(srv, lake, ["funding"], 1_767_000_000_000, 1_775_000_000_000, now=1_775_000_000_000)
        assert rep.ok and rep.rows_added == len(srv.funding)
        assert len(srv.hits("/fapi/v1/fundingInfo")) == 1


def test_region_block_stops_every_job_without_a_retry_storm(lake: Lake) -> None:
    with FakeBinanceRest() as srv:
        for p in (
            "/fapi/v1/klines",
            "/fapi/v1/markPriceKlines",
            "/fapi/v1/fundingInfo",
            "/fapi/v1/fundingRate",
        ):
            srv.always[p] = (451, {})
        rep, _ = run(srv, lake, ["klines:1h", "mark_klines:1h", "funding"], T0, T0 + 10 * H, concurrency=1)
        assert not rep.ok
        assert all("451" in (r.error or "") or "blocked" in (r.error or "") for r in rep.results)
        assert len(srv.requests) == 1


def test_plan_rejects_unknown_streams_and_periods() -> None:
    with pytest.raises(ValueError, match="no history stream 'nope'"):
        plan(CAPABILITIES, ["nope"], ["BTCUSDT"], T0, T0 + H, NOW)
    with pytest.raises(ValueError, match="period must be one of"):
        plan(CAPABILITIES, ["open_interest:1m"], ["BTCUSDT"], T0, T0 + H, NOW)
