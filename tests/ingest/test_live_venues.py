"""Live capture of the polled and multi-venue paths: Bybit open interest (no stream: polled, with a 429),
and Bybit, OKX and Hyperliquid together in one collector process."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "venues" / "binance"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "venues" / "okx"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "venues" / "hyperliquid"))

from binance_servers import FakeBinanceRest, FakeBinanceWs
from hyperliquid_server import FakeHyperliquidInfo
from okx_data import answer as okx_answer
from okx_data import liquidation_frame

from perpscope.ingest.live import Collector, LiveConfig
from perpscope.store import Lake
from perpscope.store.reader import read
from perpscope.venues.bybit import wire as bybit_wire
from perpscope.venues.registry import LiveOptions, exchange_venues

ROOT = Path(__file__).resolve().parents[1]
BYBIT = json.loads((ROOT / "fixtures" / "bybit" / "examples.json").read_text())
HL = json.loads((ROOT / "fixtures" / "hyperliquid" / "examples.json").read_text())
# The linear-perpetual ticker of Bybit's documentation
# (https://bybit-exchange.github.io/docs/v5/websocket/public/ticker, the same fields as REST
# /v5/market/tickers: https://bybit-exchange.github.io/docs/v5/market/tickers), in the REST envelope.
TICKER = {
    "symbol": "BTCUSDT",
    "lastPrice": "66666.60",
    "markPrice": "66666.60",
    "indexPrice": "115418.19",
    "openInterest": "492373.72",
    "openInterestValue": "32824881841.75",
    "fundingRate": "-0.005",
    "nextFundingTime": "1760342400000",
}
TICKERS = {
    "retCode": 0,
    "retMsg": "OK",
    "result": {"category": "linear", "list": [TICKER]},
    "time": 1760325052630,
}
T0 = 1_766_800_000_000


def test_bybit_ticker_open_interest_is_base_and_usd() -> None:
    oi = bybit_wire.parse_ticker_open_interest(TICKERS).row(0, named=True)
    # linear: openInterest in BTC, openInterestValue in USD (= 492373.72 × 66666.60 mark)
    assert (oi["oi_base"], oi["oi_usd"], oi["interval_ms"]) == (492373.72, 32824881841.75, 0)
    assert oi["ts_ms"].timestamp() * 1000 == 1760325052630
    assert oi["oi_usd"] == pytest.approx(oi["oi_base"] * 66666.60, rel=1e-9)


def bybit_rest(path: str, q: dict[str, str]) -> Any:
    if path == "/v5/market/tickers":
        assert q == {"category": "linear", "symbol": "BTCUSDT"}
        return TICKERS
    return None


async def run_until(col: Collector, cond, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    task = asyncio.create_task(col.run())
    t = time.monotonic()
    while not cond() and time.monotonic() - t < timeout:
        await asyncio.sleep(0.02)
    col.stop()
    await asyncio.wait_for(task, 10)


def test_bybit_open_interest_is_polled_through_a_rate_limit(lake: Lake) -> None:
    venue = exchange_venues()["bybit"]
    assert venue.capabilities.live["open_interest"].kind == "poll"

    async def go() -> None:
        with FakeBinanceRest() as rest:
            rest.answer = bybit_rest  # type: ignore[method-assign]
            rest.fault("/v5/market/tickers", (429, {"Retry-After": "0"}))
            (feed,) = venue.live_feeds(["BTCUSDT"], ["open_interest"], LiveOptions(rest.url, oi_poll_s=1.0))
            assert feed.ws_url() is None  # nothing to stream: only the poll runs
            col = Collector([feed], lake, lake.root, LiveConfig(flush_seconds=0.1))
            await run_until(col, lambda: col.sink.written.get(("bybit", "open_interest"), 0) >= 1)
            assert len(rest.hits("/v5/market/tickers")) >= 2  # the 429, then the answer

    asyncio.run(go())
    oi = read(lake, "open_interest", venue="bybit")
    assert oi.height == 1 and oi["oi_base"][0] == 492373.72


def test_three_venues_in_one_process(lake: Lake) -> None:
    """Bybit (every liquidation, subscribed; OI polled), OKX (sampled liquidations, subscribed, text
    ping) and Hyperliquid (polls only) run side by side and land under their own venue names."""
    from websockets.asyncio.server import serve

    bybit_liq = BYBIT["allLiquidation"]
    ybit = [
        json.dumps({**bybit_liq, "data": [{**bybit_liq["data"][0], "T": T0 + i, "p": str(0.04 + i * 1e-5)}]})
        for i in range(30)
    ]
    subscribed: list[str] = []

    async def bybit_handler(ws: Any) -> None:
        subscribed.append(await ws.recv())
        for m in ybit:
            await ws.send(m)
        async for _ in ws:
            pass

    okx_msgs = [liquidation_frame(i, T0) for i in range(40)]

    def hl_answer(path: str, body: dict[str, Any]) -> Any:
        return (
            [{"universe": [{"name": "BTC"}]}, HL["metaAndAssetCtxs"][1][:1]]  # the example's BTC context
            if body["type"] == "metaAndAssetCtxs"
            else None
        )

    async def go() -> Collector:
        with FakeBinanceRest() as yrest, FakeBinanceRest() as orest, FakeHyperliquidInfo() as hl:
            yrest.answer = bybit_rest  # type: ignore[method-assign]
            orest.answer = okx_answer()  # type: ignore[method-assign]
            hl.answer = hl_answer  # type: ignore[method-assign]
            async with (
                serve(bybit_handler, "127.0.0.1", 0) as yserver,
                FakeBinanceWs(lambda n: (okx_msgs, "hold"), delay_s=0.001) as ows,
            ):
                yport = yserver.sockets[0].getsockname()[1]
                v = exchange_venues()
                feeds = [
                    *v["bybit"].live_feeds(
                        ["BTCUSDT"],
                        ["liquidations", "open_interest"],
                        LiveOptions(yrest.url, f"ws://127.0.0.1:{yport}", oi_poll_s=1.0),
                    ),
                    *v["okx"].live_feeds(["BTCUSDT"], ["liquidations"], LiveOptions(orest.url, ows.url)),
                    *v["hyperliquid"].live_feeds(
                        ["BTC"], ["funding", "open_interest"], LiveOptions(hl.url, oi_poll_s=1.0)
                    ),
                ]
                col = Collector(feeds, lake, lake.root, LiveConfig(flush_seconds=0.1, backoff_s=0.05))
                w = col.sink.written
                await run_until(
                    col,
                    lambda: (
                        w.get(("bybit", "liquidations"), 0) >= 30
                        and w.get(("okx", "liquidations"), 0) >= 40
                        and w.get(("bybit", "open_interest"), 0) >= 1
                        and w.get(("hyperliquid", "open_interest"), 0) >= 1
                    ),
                )
                return col

    col = asyncio.run(go())
    assert json.loads(subscribed[0]) == {"op": "subscribe", "args": ["allLiquidation.BTCUSDT"]}
    liq = read(lake, "liquidations")
    assert liq.filter(liq["venue"] == "bybit").height == 30 and liq.filter(liq["venue"] == "okx").height == 40
    assert read(lake, "open_interest", venue="hyperliquid")["oi_base"].to_list() == [688.11]
    assert all(
        col.venues[v].reconnects == 0 and col.venues[v].fatal is None for v in ("bybit", "okx", "hyperliquid")
    )
    # the status records each venue's liquidation sampling
    complete = [col.venues[v].liquidations_complete for v in ("bybit", "okx", "hyperliquid")]
    assert complete == [True, False, False]
    assert "one liquidation per instrument per second" in col.venues["okx"].liquidation_sampling
