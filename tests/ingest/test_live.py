"""Live capture against real loopback websocket and HTTP servers, with injected faults.

Faults: a connection dropped mid-stream, a server that is gone for a while (restart), malformed JSON,
unknown event types, duplicated and out-of-order messages, a trade-id gap; outcomes: no duplicate rows,
gaps filled by REST, nothing received lost on a clean stop, at most the unflushed batch lost on kill -9,
flat memory over a long replay.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "venues" / "binance"))

from binance_data import closed_kline_frame, force_order_messages, ws_examples
from binance_servers import FakeBinanceRest, FakeBinanceWs

from perpscope.ingest.live import Collector, LiveConfig, status_path
from perpscope.ingest.state import read_json
from perpscope.records import LIQUIDATIONS
from perpscope.store import Lake
from perpscope.store.reader import read
from perpscope.venues.binance.client import BinanceClient, BinanceUrls
from perpscope.venues.binance.live import BinanceLive

T0 = 1_766_800_000_000


def trade(i: int, t: int | None = None) -> str:
    return json.dumps(
        {
            "stream": "btcusdt@aggTrade",
            "data": {
                "e": "aggTrade",
                "E": T0 + i,
                "s": "BTCUSDT",
                "a": i,
                "p": "87000.5",
                "q": "0.01",
                "f": i,
                "l": i,
                "T": T0 + i if t is None else t,
                "m": i % 3 == 0,
            },
        }
    )


def liquidation(i: int) -> dict[str, Any]:
    ev = ws_examples()["forceOrder"]
    return {**ev, "o": {**ev["o"], "T": T0 + i * 1000, "S": "SELL" if i % 2 else "BUY", "p": str(9000 + i)}}


async def run_until(col: Collector, cond, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    task = asyncio.create_task(col.run())
    t = time.monotonic()
    while not cond() and time.monotonic() - t < timeout:
        await asyncio.sleep(0.02)
    col.stop()
    await asyncio.wait_for(task, 10)


def collector(
    rest: FakeBinanceRest, ws: FakeBinanceWs, lake: Lake, streams: list[str], **cfg: Any
) -> Collector:
    client = BinanceClient(BinanceUrls(rest.url, rest.url, ws.url), backoff_s=0.01)
    feed = BinanceLive(client, ["BTCUSDT"], streams)
    cfg.setdefault("flush_seconds", 0.1)
    cfg.setdefault("backoff_s", 0.05)
    return Collector([feed], lake, lake.root, LiveConfig(**cfg))


def test_reconnect_with_duplicates_reordering_and_bad_frames_stores_each_liquidation_once(lake: Lake) -> None:
    msgs = [json.dumps({"stream": "!forceOrder@arr", "data": liquidation(i)}) for i in range(300)]

    def script(n: int) -> tuple[list[str], str]:
        if n == 0:  # drop mid-stream after 150 messages, with a malformed frame and an unknown event in it
            return [*msgs[:75], "{truncated", '{"e": "newThing", "E": 1}', *msgs[75:150]], "close"
        replay = msgs[100:300]  # 50 duplicates of what the first connection sent
        random.Random(1).shuffle(replay)  # out of order
        return [*replay, *replay[:20]], "hold"

    async def go() -> Collector:
        with FakeBinanceRest() as rest:
            async with FakeBinanceWs(script) as ws:
                col = collector(rest, ws, lake, ["liquidations"])
                await run_until(
                    col,
                    lambda: (
                        ws.done.is_set()
                        and col.sink.pending == 0
                        and col.sink.written.get(("binance", "liquidations"), 0) >= 300
                    ),
                )
                assert ws.paths[0] == "/stream?streams=!forceOrder@arr"
                return col

    col = asyncio.run(go())
    df = read(lake, "liquidations", venue="binance")
    assert df.height == 300
    assert df.select(LIQUIDATIONS.key).is_unique().all()
    snap = read_json(status_path(lake.root))
    (st,) = snap["streams"]
    assert st["reconnects"] == 1 and len(st["gaps_unfilled"]) == 1  # liquidations cannot be re-fetched
    assert snap["venues"][0]["malformed"] == 1 and snap["venues"][0]["unknown"] == 1
    assert snap["written"]["binance/liquidations"] >= 300
    assert col.stop_event.is_set()


@pytest.mark.shared
def test_recorded_force_orders_replay_into_the_store(shared_data, lake: Lake) -> None:  # type: ignore[no-untyped-def]
    msgs = [json.dumps(m) for m in force_order_messages(shared_data)]

    async def go() -> None:
        with FakeBinanceRest() as rest:
            async with FakeBinanceWs(lambda n: (msgs, "hold")) as ws:
                col = collector(rest, ws, lake, ["liquidations"])
                await run_until(
                    col, lambda: ws.done.is_set() and sum(s.messages for s in col.streams.values()) >= 2040
                )

    asyncio.run(go())
    df = read(lake, "liquidations", venue="binance")
    want = pl.DataFrame([m["o"] for m in map(json.loads, msgs) if m["o"]["s"].isascii()])
    assert df.height == want.select("s", "T", "S", "p", "ap", "z").unique().height
    btc = df.filter(pl.col("canonical") == "BTC-USDT-PERP")
    assert btc.height and btc["price"].is_between(80_000, 95_000).all()  # 87.2k on 2025-12-27


def test_trade_gap_after_reconnect_is_filled_by_rest(lake: Lake) -> None:
    def script(n: int) -> tuple[list[str], str]:
        if n == 0:
            return [trade(i) for i in range(100)], "close"
        return [trade(i) for i in range(150, 200)], "hold"

    async def go() -> Collector:
        with FakeBinanceRest() as rest:
            rest.agg_trades["BTCUSDT"] = [
                {"a": i, "p": "87000.5", "q": "0.01", "f": i, "l": i, "T": T0 + i, "m": i % 3 == 0}
                for i in range(200)
            ]
            async with FakeBinanceWs(script) as ws:
                col = collector(rest, ws, lake, ["trades"])
                await run_until(
                    col,
                    lambda: (
                        ws.done.is_set()
                        and col.streams[("binance", "trades")].gaps_filled == 1
                        and col.sink.pending == 0
                        and col.sink.written.get(("binance", "trades"), 0) >= 200
                    ),
                )
                q = rest.hits("/fapi/v1/aggTrades")[0][1]
                assert q["fromId"] == "100"
                return col

    col = asyncio.run(go())
    ids = read(lake, "trades", venue="binance")["trade_id"].to_list()
    assert ids == list(range(200))
    assert col.streams[("binance", "trades")].rows_filled == 50


def test_server_down_for_a_while_then_back(lake: Lake) -> None:
    """The socket refuses connections for ~0.5 s (restart), the collector keeps retrying, then resumes."""

    async def go() -> None:
        with FakeBinanceRest() as rest:
            ws = FakeBinanceWs(
                lambda n: ([trade(i) for i in range(10 * n, 10 * n + 10)], "close" if n < 2 else "hold")
            )
            async with ws:
                url = ws.url
                col = collector(rest, ws, lake, ["trades"])
                task = asyncio.create_task(col.run())
                while ws.connections < 1:
                    await asyncio.sleep(0.01)
            # server gone: connection refused
            await asyncio.sleep(0.5)
            port = int(url.rsplit(":", 1)[1])
            from websockets.asyncio.server import serve

            ws2 = FakeBinanceWs(lambda n: ([trade(i) for i in range(10, 30)], "hold"))
            server = await serve(ws2._handler, "127.0.0.1", port, compression=None)
            t = time.monotonic()
            while not (ws2.done.is_set() and col.sink.pending == 0) and time.monotonic() - t < 10:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            col.stop()
            await task
            server.close()
            assert col.venues["binance"].reconnects >= 2

    asyncio.run(go())
    assert read(lake, "trades")["trade_id"].to_list() == list(range(30))


def test_clean_stop_writes_everything_received(lake: Lake) -> None:
    n = 5000

    async def go() -> None:
        with FakeBinanceRest() as rest:
            async with FakeBinanceWs(lambda c: ([trade(i) for i in range(n)], "hold")) as ws:
                col = collector(rest, ws, lake, ["trades"], flush_seconds=3600, max_batch=10**9)
                await run_until(col, lambda: col.sink.pending >= n)
                assert col.sink.flushes == 1  # only the final one, on stop

    asyncio.run(go())
    assert read(lake, "trades").height == n


class RoundsWs(FakeBinanceWs):
    """Sends its frames in rounds, each after :attr:`resume` is set: between two rounds the collector
    goes quiet (everything received written), which is when the memory test measures."""

    def __init__(self, rounds: list[list[str]]) -> None:
        super().__init__(lambda n: ([], "hold"))
        self.rounds = rounds
        self.resume = asyncio.Event()

    async def _handler(self, ws: Any) -> None:
        self.connections += 1
        for frames in self.rounds:
            await self.resume.wait()
            self.resume.clear()
            for f in frames:
                await ws.send(f)
                self.sent += 1
        self.done.set()
        await ws.wait_closed()


def test_memory_stays_flat_over_a_long_replay(lake: Lake) -> None:
    n, per_round = 40_000, 10_000
    frames = [trade(i) for i in range(n)]
    rounds = [frames[i : i + per_round] for i in range(0, n, per_round)]

    async def go() -> list[int]:
        mem: list[int] = []
        with FakeBinanceRest() as rest:
            async with RoundsWs(rounds) as ws:
                col = collector(rest, ws, lake, ["trades"], flush_seconds=0.2, max_batch=5000)

                def quiet() -> bool:
                    """Sample memory before the first round and after each, in a quiet state (every row
                    of the rounds sent written, no flush running), then release the next round: the
                    figure does not depend on how far a loaded machine let the writer fall behind."""
                    k = len(mem)  # rounds released so far
                    written = col.sink.written.get(("binance", "trades"), 0)
                    ready = (
                        col.venues["binance"].connected
                        if k == 0
                        else written >= per_round * k
                        and col.sink.pending == 0
                        and not col.sink._lock.locked()
                    )
                    if ready:
                        gc.collect()
                        mem.append(tracemalloc.get_traced_memory()[0])
                        ws.resume.set()
                    return len(mem) == len(rounds) + 1

                await run_until(col, quiet, timeout=120)
        return mem

    tracemalloc.start()
    try:
        mem = asyncio.run(go())
    finally:
        tracemalloc.stop()
    assert read(lake, "trades").height == n
    assert len(mem) == len(rounds) + 1, mem
    growth = mem[-1] - mem[1]  # from after the first round (imports, caches warmed) to after the last
    assert growth < 8 * 2**20, (
        f"memory grew {growth / 2**20:.1f} MiB between {per_round:,} and {per_round * (len(mem) - 1):,} "
        "messages, measured each time with everything written"
    )


def test_kill_9_loses_at_most_the_unflushed_batch_and_never_corrupts_the_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    flush_s = 0.5
    rate = 2000  # messages per second
    sent: list[tuple[float, int]] = []

    async def go() -> tuple[int, float]:
        async def handler(ws: Any) -> None:
            i = 0
            while True:
                t = time.monotonic()
                for _ in range(rate // 20):
                    await ws.send(trade(i))
                    i += 1
                sent.append((time.monotonic(), i))
                await asyncio.sleep(max(0.0, 0.05 - (time.monotonic() - t)))

        from websockets.asyncio.server import serve

        with FakeBinanceRest() as rest:
            server = await serve(handler, "127.0.0.1", 0, compression=None)
            port = server.sockets[0].getsockname()[1]
            proc = subprocess.Popen(
                [
                    sys.executable,
                    str(Path(__file__).with_name("collector_proc.py")),
                    f"ws://127.0.0.1:{port}",
                    rest.url,
                    str(data),
                    str(flush_s),
                ],
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            )
            try:
                t = time.monotonic()
                while time.monotonic() - t < 20:
                    st = read_json(status_path(data))
                    if st and st.get("flushes", 0) >= 5 and st["written"].get("binance/trades", 0) > 2000:
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(random.Random(3).uniform(0, flush_s))  # somewhere inside a flush period
                proc.send_signal(signal.SIGKILL)
                killed_at = time.monotonic()
                proc.wait(10)
            finally:
                if proc.poll() is None:
                    proc.kill()
                server.close()
            received_by = max(n for t, n in sent if t <= killed_at)
            return received_by, killed_at

    received_by, _ = asyncio.run(go())
    ids = read(Lake(data), "trades")["trade_id"].to_list()  # the store reads: not corrupted
    assert ids == list(range(len(ids)))  # a prefix, no holes, no duplicates
    lost = received_by - len(ids)
    # bound: the rows of one flush period plus one write in progress, at the replay rate (+ slack for
    # what was still in the socket buffers)
    assert lost <= rate * (flush_s + 0.5) + 500, f"lost {lost} messages"


def test_kline_gap_after_reconnect_is_filled_by_rest(lake: Lake) -> None:
    m = 60_000
    t0 = T0 // m * m

    def script(n: int) -> tuple[list[str], str]:
        return ([closed_kline_frame(t0)], "close") if n == 0 else ([closed_kline_frame(t0 + 4 * m)], "hold")

    async def go() -> None:
        with FakeBinanceRest() as rest:
            rest.klines["BTCUSDT"] = [
                [t0 + i * m, "1", "2", "0.5", "1.5", "10", t0 + (i + 1) * m - 1, "15", 3, "4", "6", "0"]
                for i in range(1, 4)
            ]
            async with FakeBinanceWs(script) as ws:
                col = collector(rest, ws, lake, ["klines"])
                await run_until(
                    col,
                    lambda: (
                        ws.done.is_set()
                        and col.streams[("binance", "klines")].gaps_filled == 1
                        and col.sink.pending == 0
                        and col.sink.written.get(("binance", "candles"), 0) >= 5
                    ),
                )

    asyncio.run(go())
    got = read(lake, "candles")["ts_ms"].dt.epoch("ms").to_list()
    assert got == [t0 + i * m for i in range(5)]


def test_websocket_region_block_is_fatal_without_reconnects(lake: Lake) -> None:
    from websockets.asyncio.server import serve
    from websockets.http11 import Response

    attempts = []

    def refuse(conn: Any, request: Any) -> Response:
        attempts.append(request.path)
        return conn.respond(451, "Unavailable For Legal Reasons\n")

    async def go() -> Collector:
        with FakeBinanceRest() as rest:
            async with serve(lambda ws: None, "127.0.0.1", 0, process_request=refuse) as server:
                port = server.sockets[0].getsockname()[1]
                client = BinanceClient(BinanceUrls(rest.url, rest.url, f"ws://127.0.0.1:{port}"))
                feed = BinanceLive(client, ["BTCUSDT"], ["liquidations"])
                col = Collector([feed], lake, lake.root, LiveConfig(backoff_s=0.01))
                await run_until(col, lambda: col.venues["binance"].fatal is not None, timeout=5)
                await asyncio.sleep(0.2)
                return col

    col = asyncio.run(go())
    assert "451" in (col.venues["binance"].fatal or "")
    assert len(attempts) == 1


def test_two_venues_in_one_process_binance_sampled_and_bybit_subscribed(lake: Lake) -> None:
    """Binance (stream names in the URL) and Bybit (subscribe after connect, app-level ping) together."""
    from perpscope.venues.bybit.live import BybitLive

    examples = json.loads(
        (Path(__file__).resolve().parents[1] / "fixtures" / "bybit" / "examples.json").read_text()
    )
    subscribed: list[str] = []

    async def bybit_handler(ws: Any) -> None:
        sub = json.loads(await ws.recv())
        subscribed.extend(sub["args"])
        await ws.send(json.dumps({"success": True, "op": "subscribe", "conn_id": "c1"}))
        msg = examples["allLiquidation"]
        for i in range(50):
            await ws.send(json.dumps({**msg, "data": [{**msg["data"][0], "T": msg["data"][0]["T"] + i}]}))
        async for m in ws:  # answer the heartbeat like Bybit does
            if json.loads(m).get("op") == "ping":
                await ws.send(json.dumps({"success": True, "ret_msg": "pong", "op": "ping"}))

    async def go() -> Collector:
        from websockets.asyncio.server import serve

        with FakeBinanceRest() as rest:
            binance_msgs = [
                json.dumps({"stream": "!forceOrder@arr", "data": liquidation(i)}) for i in range(30)
            ]
            async with (
                FakeBinanceWs(lambda n: (binance_msgs, "hold")) as bws,
                serve(bybit_handler, "127.0.0.1", 0) as yserver,
            ):
                yport = yserver.sockets[0].getsockname()[1]
                binance = BinanceLive(
                    BinanceClient(BinanceUrls(rest.url, rest.url, bws.url)), ["BTCUSDT"], ["liquidations"]
                )
                bybit = BybitLive(["ROSEUSDT"], ws_base=f"ws://127.0.0.1:{yport}")
                col = Collector([binance, bybit], lake, lake.root, LiveConfig(flush_seconds=0.1))
                await run_until(
                    col,
                    lambda: (
                        col.sink.written.get(("binance", "liquidations"), 0) >= 30
                        and col.sink.written.get(("bybit", "liquidations"), 0) >= 50
                    ),
                )
                return col

    col = asyncio.run(go())
    assert subscribed == ["allLiquidation.ROSEUSDT"]
    assert read(lake, "liquidations", venue="binance").height == 30
    by = read(lake, "liquidations", venue="bybit")
    assert by.height == 50 and (by["side"] == "short").all()
    assert col.venues["bybit"].reconnects == 0
