"""Binance REST client against a real loopback HTTP server: paging, rate limits, region blocks, faults."""

from __future__ import annotations

import asyncio
import time

import pytest
from binance_data import btc_funding, btc_klines_1h, rest_examples
from binance_servers import FakeBinanceRest

from perpscope.core.errors import VenueError
from perpscope.records import CANDLES, FUNDING, LONG_SHORT_RATIOS, OPEN_INTEREST, TAKER_VOLUME
from perpscope.venues.binance.client import BinanceClient, BinanceUrls
from perpscope.venues.http import RateLimited, RegionBlocked, TokenBucket

H = 3600_000
T0 = 1_700_000_000_000 // H * H


def client(srv: FakeBinanceRest, **kw: object) -> BinanceClient:
    kw.setdefault("backoff_s", 0.01)
    return BinanceClient(BinanceUrls(srv.url, srv.url, "ws://unused"), **kw)  # type: ignore[arg-type]


def synthetic_klines(n: int, step: int = H) -> list[list[object]]:
    return [
        [T0 + i * step, "1", "2", "0.5", "1.5", "10", T0 + (i + 1) * step - 1, "15", 3, "4", "6", "0"]
        for i in range(n)
    ]


def test_klines_are_paged_by_windows_of_the_page_limit() -> None:
    with FakeBinanceRest() as srv:
        srv.klines["BTCUSDT"] = synthetic_klines(4000)

        async def go() -> list[int]:
            c = client(srv)
            out, cur = [], T0
            while cur is not None:
                p = await c.page("klines", "BTCUSDT", cur, T0 + 4000 * H, "1h")
                out += p.frames[CANDLES]["ts_ms"].dt.epoch("ms").to_list()
                cur = p.next_ms
            await c.aclose()
            return out

        got = asyncio.run(go())
        assert got == [T0 + i * H for i in range(4000)]
        hits = srv.hits("/fapi/v1/klines")
        assert len(hits) == 3 and all(q["limit"] == "1500" for _, q in hits)


@pytest.mark.shared
def test_real_funding_history_pages_until_empty(shared_data) -> None:  # type: ignore[no-untyped-def]
    with FakeBinanceRest() as srv:
        srv.funding = btc_funding(shared_data)

        async def go() -> int:
            c = client(srv)
            p = await c.page("funding", "BTCUSDT", 0, 2_000_000_000_000)
            await c.aclose()
            assert p.next_ms is None  # fewer than 1000 rows: the last page
            df = p.frames[FUNDING]
            assert (df["interval_ms"] == 8 * H).all()
            assert df["rate"].abs().max() <= 0.02  # Binance cap
            return df.height

        assert asyncio.run(go()) == len(srv.funding) == 58  # 200 less the withheld Jan–Feb 2026


@pytest.mark.shared
def test_real_klines_round_trip(shared_data) -> None:  # type: ignore[no-untyped-def]
    t0, t1 = 1_760_054_400_000, 1_760_054_400_000 + 48 * H  # 2025-10-10, the crash day
    with FakeBinanceRest() as srv:
        srv.klines["BTCUSDT"] = btc_klines_1h(shared_data, t0, t1)

        async def go():  # type: ignore[no-untyped-def]
            c = client(srv)
            p = await c.page("klines", "BTCUSDT", t0, t1, "1h")
            await c.aclose()
            return p.frames[CANDLES]

        df = asyncio.run(go())
        assert df.height == 48
        assert df["low"].min() == pytest.approx(101_516.5, abs=0.1)  # the known 10 Oct 21:00 wick


def test_stats_endpoints_map_to_their_records() -> None:
    ex = rest_examples()
    with FakeBinanceRest() as srv:
        srv.stats["/futures/data/openInterestHist"] = {"BTCUSDT": ex["openInterestHist"]}
        srv.stats["/futures/data/takerlongshortRatio"] = {"BTCUSDT": ex["takerlongshortRatio"]}
        srv.stats["/futures/data/topLongShortPositionRatio"] = {"BTCUSDT": ex["globalLongShortAccountRatio"]}

        async def go() -> None:
            c = client(srv)
            p = await c.page("open_interest", "BTCUSDT", 1616438700000, 1616438700000 + 300_000, "5m")
            assert p.frames[OPEN_INTEREST].height == 1
            p = await c.page("taker_volume", "BTCUSDT", 1583000000000, 1586000000000, "5m")
            assert set(p.frames) == {TAKER_VOLUME, LONG_SHORT_RATIOS}
            p = await c.page("ratio_top_positions", "BTCUSDT", 1583139600000, 1583139600000 + 1, "5m")
            assert p.frames[LONG_SHORT_RATIOS]["kind"].to_list() == ["top_positions"]
            await c.aclose()

        asyncio.run(go())


def test_429_retry_after_is_honoured() -> None:
    with FakeBinanceRest() as srv:
        srv.klines["BTCUSDT"] = synthetic_klines(10)
        srv.fault("/fapi/v1/klines", (429, {"Retry-After": "1"}))

        async def go() -> int:
            c = client(srv)
            p = await c.page("klines", "BTCUSDT", T0, T0 + 10 * H, "1h")
            assert c.fapi.stats.rate_limited == 1
            await c.aclose()
            return p.rows

        assert asyncio.run(go()) == 10
        (t1, _), (t2, _) = srv.hits("/fapi/v1/klines")
        assert t2 - t1 >= 0.95  # waited the full Retry-After, not the 10 ms backoff


def test_418_with_a_long_ban_raises_instead_of_hanging() -> None:
    with FakeBinanceRest() as srv:
        srv.fault("/fapi/v1/klines", (418, {"Retry-After": "7200"}))

        async def go() -> None:
            c = client(srv)
            try:
                await c.page("klines", "BTCUSDT", T0, T0 + H, "1h")
            finally:
                await c.aclose()

        with pytest.raises(RateLimited, match="Retry-After 7200"):
            asyncio.run(go())
        assert len(srv.hits("/fapi/v1/klines")) == 1


def test_451_region_block_is_one_request_and_a_clear_message() -> None:
    with FakeBinanceRest() as srv:
        srv.always["/fapi/v1/fundingRate"] = (451, {})

        async def go() -> None:
            c = client(srv)
            try:
                await c.page("funding", "BTCUSDT", 0, T0)
            finally:
                await c.aclose()

        with pytest.raises(RegionBlocked, match=r"451.*perpscope download"):
            asyncio.run(go())
        assert len(srv.hits("/fapi/v1/fundingRate")) == 1


def test_server_errors_garbage_and_slow_answers_are_retried() -> None:
    with FakeBinanceRest() as srv:
        srv.klines["BTCUSDT"] = synthetic_klines(5)
        srv.fault("/fapi/v1/klines", (500, None), ("garbage", None), ("slow", 1.0))

        async def go() -> int:
            c = client(srv, timeout_s=0.3)
            p = await c.page("klines", "BTCUSDT", T0, T0 + 5 * H, "1h")
            await c.aclose()
            return p.rows

        assert asyncio.run(go()) == 5
        assert len(srv.hits("/fapi/v1/klines")) == 4


def test_persistent_errors_give_up_after_the_retries() -> None:
    with FakeBinanceRest() as srv:
        srv.always["/fapi/v1/klines"] = (503, {})

        async def go() -> None:
            c = client(srv, retries=3)
            try:
                await c.page("klines", "BTCUSDT", T0, T0 + H, "1h")
            finally:
                await c.aclose()

        with pytest.raises(VenueError, match="HTTP 503 after 3 attempts"):
            asyncio.run(go())


def test_bad_request_is_not_retried_and_says_why() -> None:
    with FakeBinanceRest() as srv:

        async def go() -> None:
            c = client(srv)
            try:
                await c.open_interest_now("NOPEUSDT")
            finally:
                await c.aclose()

        with pytest.raises(VenueError, match="Invalid symbol"):
            asyncio.run(go())
        assert len(srv.hits("/fapi/v1/openInterest")) == 1


def test_token_bucket_spaces_requests_to_the_budget() -> None:
    async def go() -> float:
        b = TokenBucket(10, period_s=1.0)  # 10 weight per second
        t = time.monotonic()
        for _ in range(30):
            await b.acquire(1)
        return time.monotonic() - t

    assert 1.8 <= asyncio.run(go()) <= 2.6  # 10 at once, then 20 more at 10/s


def test_agg_trade_gap_fill_by_id() -> None:
    with FakeBinanceRest() as srv:
        srv.agg_trades["BTCUSDT"] = [
            {"a": i, "p": "100.0", "q": "1", "f": i, "l": i, "T": T0 + i, "m": i % 2 == 0}
            for i in range(2500)
        ]

        async def go() -> list[int]:
            c = client(srv)
            df = await c.agg_trades_from("BTCUSDT", 10, 2100)
            await c.aclose()
            return df["trade_id"].to_list()

        assert asyncio.run(go()) == list(range(10, 2101))
