"""OKX live capture against loopback websocket and HTTP servers, with injected faults."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "binance"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from binance_servers import FakeBinanceRest, FakeBinanceWs
from okx_data import EX, M, answer, candle_frame, candle_row, liquidation_frame

from perpscope.ingest.live import Collector, LiveConfig, status_path
from perpscope.ingest.state import read_json
from perpscope.records import LIQUIDATIONS
from perpscope.store import Lake
from perpscope.store.reader import read
from perpscope.venues.okx.live import okx_feeds

T0 = 1_766_800_000_000 // M * M


async def run_until(col: Collector, cond, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    task = asyncio.create_task(col.run())
    t = time.monotonic()
    while not cond() and time.monotonic() - t < timeout:
        await asyncio.sleep(0.02)
    col.stop()
    await asyncio.wait_for(task, 10)


def test_subscriptions_per_socket() -> None:
    feeds = okx_feeds(["BTCUSDT"], ["liquidations", "funding", "open_interest", "klines"], kline_period="1h")
    pub, bus = feeds
    assert (pub.ws_url(), bus.ws_url()) == (
        "wss://ws.okx.com:8443/ws/v5/public",
        "wss://ws.okx.com:8443/ws/v5/business",
    )
    (msg,) = pub.subscribe_messages()
    assert json.loads(msg) == {
        "op": "subscribe",
        "args": [
            {"channel": "liquidation-orders", "instType": "SWAP"},
            {"channel": "funding-rate", "instId": "BTC-USDT-SWAP"},
            {"channel": "mark-price", "instId": "BTC-USDT-SWAP"},
            {"channel": "open-interest", "instId": "BTC-USDT-SWAP"},
        ],
    }
    assert json.loads(bus.subscribe_messages()[0])["args"] == [
        {"channel": "candle1H", "instId": "BTC-USDT-SWAP"}
    ]
    assert pub.heartbeat() == (20.0, "ping") and not pub.polls()
    assert okx_feeds(["BTCUSDT"], ["liquidations"])[0].capabilities.liquidations_complete is False


def test_disconnect_duplicates_bad_frames_and_a_rate_limited_instruments_request(lake: Lake) -> None:
    msgs = [liquidation_frame(i, T0) for i in range(100)]

    def script(n: int) -> tuple[list[str], str]:
        if n == 0:  # a subscribe answer, a malformed frame, then the socket drops mid-stream
            return [
                json.dumps(EX["funding_rate_subscribe_answer"]),
                *msgs[:30],
                "{trunc",
                *msgs[30:60],
            ], "close"
        return [*msgs[40:], *msgs[90:]], "hold"  # 20 + 10 duplicates after the reconnect

    async def go() -> Collector:
        with FakeBinanceRest() as rest:
            rest.answer = answer()  # type: ignore[method-assign]
            rest.fault("/api/v5/public/instruments", (429, {"Retry-After": "0"}))
            async with FakeBinanceWs(script, delay_s=0.002) as ws:  # a venue answers after the subscribe
                (feed,) = okx_feeds(["BTC-USDT-SWAP"], ["liquidations"], rest_url=rest.url, ws_base=ws.url)
                feed.client.http.backoff_s = 0.01
                col = Collector([feed], lake, lake.root, LiveConfig(flush_seconds=0.1, backoff_s=0.05))
                await run_until(
                    col,
                    lambda: ws.done.is_set() and col.sink.written.get(("okx", "liquidations"), 0) >= 100,
                )
                assert ws.paths == ["/ws/v5/public", "/ws/v5/public"]
                assert len(rest.hits("/api/v5/public/instruments")) == 3  # 429, then once per connect
                return col

    asyncio.run(go())
    df = read(lake, "liquidations", venue="okx")
    assert df.height == 100 and df.select(LIQUIDATIONS.key).is_unique().all()
    # odd frames are sell orders ⇒ longs; 13 contracts × 0.01 BTC
    assert df.filter(df["side"] == "long").height == 50 and (df["qty_base"] - 0.13).abs().max() < 1e-12  # type: ignore[operator]
    snap = read_json(status_path(lake.root))
    (st,) = snap["streams"]
    assert st["reconnects"] == 1 and len(st["gaps_unfilled"]) == 1  # liquidations cannot be re-fetched
    assert snap["venues"][0]["malformed"] == 1


def test_kline_gap_after_reconnect_is_filled_by_rest(lake: Lake) -> None:
    def script(n: int) -> tuple[list[str], str]:
        if n == 0:
            return [candle_frame(T0 + i * M) for i in range(5)], "close"
        return [candle_frame(T0 + i * M) for i in (8, 9)], "hold"

    async def go() -> None:
        with FakeBinanceRest() as rest:
            rest.answer = answer([candle_row(T0 + i * M) for i in range(10)])  # type: ignore[method-assign]
            async with FakeBinanceWs(script, delay_s=0.002) as ws:  # a venue answers after the subscribe
                (feed,) = okx_feeds(["BTCUSDT"], ["klines"], rest_url=rest.url, ws_base=ws.url)
                col = Collector([feed], lake, lake.root, LiveConfig(flush_seconds=0.1, backoff_s=0.05))
                await run_until(col, lambda: col.sink.written.get(("okx", "candles"), 0) >= 10)
                assert ws.paths[0] == "/ws/v5/business"
                st = col.streams[("okx", "klines")]
                assert st.gaps_filled == 1 and st.rows_filled == 3

    asyncio.run(go())
    c = read(lake, "candles", venue="okx")
    assert c["ts_ms"].dt.epoch("ms").to_list() == [T0 + i * M for i in range(10)]
