"""Issue 21's socket probes kept as tests, against real loopback servers (websocket + HTTP on 127.0.0.1)
serving Binance-shaped frames: a socket that stalls with pings answered, a handshake answered 429 with
``Retry-After``, and a collector restarted across a downtime. Intervals are shortened through
:class:`LiveLimits`, so each test takes seconds.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "venues" / "binance"))

from binance_data import closed_kline_frame, ws_examples
from binance_servers import FakeBinanceRest
from websockets.asyncio.server import ServerConnection, serve

from perpscope.ingest.live import Collector, LiveConfig, LiveLimits, StreamStatus, status_path
from perpscope.ingest.socket_loop import retry_after_s
from perpscope.ingest.stall import StallLimits
from perpscope.ingest.state import read_json
from perpscope.store import Lake
from perpscope.store.reader import read
from perpscope.venues.binance.client import BinanceClient, BinanceUrls
from perpscope.venues.binance.live import BinanceLive

#: Trades an hour old: on restart the store is searched for the last trade within a recent window
T0 = time.time_ns() // 1_000_000 - 3_600_000


def trade(i: int) -> str:
    """An aggTrade frame of the combined stream (the shape of Binance's documented example)."""
    ev = {**ws_examples()["aggTrade"], "E": T0 + i, "s": "BTCUSDT", "a": i, "f": i, "l": i, "T": T0 + i}
    return json.dumps({"stream": "btcusdt@aggTrade", "data": ev})


def rest_trade(i: int) -> dict[str, Any]:
    """The same trade as ``/fapi/v1/aggTrades`` returns it."""
    ev = ws_examples()["aggTrade"]
    return {"a": i, "p": ev["p"], "q": ev["q"], "f": i, "l": i, "T": T0 + i, "m": ev["m"]}


def mark_price(i: int) -> str:
    ev = {**ws_examples()["markPriceUpdate"], "E": T0 + i * 1000}
    return json.dumps({"stream": "btcusdt@markPrice@1s", "data": ev})


def liquidation(i: int) -> str:
    ev = ws_examples()["forceOrder"]
    return json.dumps({"stream": "!forceOrder@arr", "data": {**ev, "o": {**ev["o"], "T": T0 + i}}})


def collector(
    rest: FakeBinanceRest, ws_url: str, lake: Lake, streams: Sequence[str], limits: LiveLimits | None = None
) -> Collector:
    client = BinanceClient(BinanceUrls(rest.url, rest.url, ws_url), backoff_s=0.01)
    feed = BinanceLive(client, ["BTCUSDT"], streams)
    cfg = LiveConfig(flush_seconds=0.05, status_seconds=0.05, backoff_s=0.05, ping_interval_s=0.1)
    return Collector([feed], lake, lake.root, cfg, limits=limits)


async def run_until(col: Collector, cond: Callable[[], bool], timeout: float = 10.0) -> None:
    task = asyncio.create_task(col.run())
    t = time.monotonic()
    while not cond() and time.monotonic() - t < timeout:
        await asyncio.sleep(0.02)
    col.stop()
    await asyncio.wait_for(task, 10)


def written(col: Collector, record: str) -> int:
    return col.sink.written.get(("binance", record), 0)


def trades_status(col: Collector) -> StreamStatus:
    """The trades stream's counters (empty ones before its first message)."""
    return col.streams.get(("binance", "trades")) or StreamStatus("binance", "trades")


STALL = 5.0  # N
TRADE_EVERY_S = 0.1  # the trades' normal interval in these tests (5 s in production)
FRAME_EVERY_S = 0.1  # the mark price's normal frame interval here (3 s in production)
FAST = LiveLimits(
    stall=StallLimits(
        intervals=STALL,
        row_interval_s={"trades": TRADE_EVERY_S, "liquidations": 60.0, "funding": 60.0},
        frame_interval_s={"funding": FRAME_EVERY_S},
        check_every_s=0.02,
    )
)


def test_a_stall_with_pings_answered_is_reconnected_and_its_trades_filled_by_rest(lake: Lake) -> None:
    """First connection: trades 0–49, then silence with the socket open (the server library answers
    our pings and sends its own). Trades 50–79 happen during the stall; the next connection starts at 80."""
    connected: list[float] = []
    went_quiet: list[float] = []

    async def handler(ws: ServerConnection) -> None:
        n = len(connected)
        connected.append(time.monotonic())
        for i in range(0, 50) if n == 0 else range(80, 100):
            await ws.send(trade(i))
        went_quiet.append(time.monotonic())
        await ws.wait_closed()

    async def go() -> Collector:
        with FakeBinanceRest() as rest:
            rest.agg_trades["BTCUSDT"] = [rest_trade(i) for i in range(100)]
            async with serve(handler, "127.0.0.1", 0, ping_interval=0.05) as server:
                port = server.sockets[0].getsockname()[1]
                col = collector(rest, f"ws://127.0.0.1:{port}", lake, ["trades"], FAST)
                await run_until(
                    col, lambda: written(col, "trades") >= 100 and trades_status(col).gaps_filled >= 1
                )
                assert rest.hits("/fapi/v1/aggTrades")[0][1]["fromId"] == "50"
                return col

    col = asyncio.run(go())
    detected_after = connected[1] - went_quiet[0]
    limit = STALL * TRADE_EVERY_S
    # detected after N × the normal interval, plus at most a check period and the reconnect backoff
    assert limit <= detected_after < limit + 1.5, detected_after  # + slack for a loaded machine
    assert col.status.stalls["binance"] >= 1
    assert "stalled socket reconnected: trades: no message" in (col.venues["binance"].last_error or "")
    assert read(lake, "trades")["trade_id"].to_list() == list(range(100))
    assert col.streams[("binance", "trades")].rows_filled == 30
    snap = read_json(status_path(lake.root))
    assert snap["venues"][0]["stalls"] >= 1


def test_a_socket_whose_clocked_stream_stops_is_a_stall_even_between_its_rows(lake: Lake) -> None:
    """The mark price ticks every second but yields a funding row only once a minute: the frame
    cadence, not the row cadence, tells that the socket went quiet."""
    connected: list[float] = []
    went_quiet: list[float] = []

    async def handler(ws: ServerConnection) -> None:
        connected.append(time.monotonic())
        for i in range(5):
            await ws.send(mark_price(i))
            await asyncio.sleep(0.02)
        went_quiet.append(time.monotonic())
        await ws.wait_closed()

    async def go() -> Collector:
        with FakeBinanceRest() as rest:
            async with serve(handler, "127.0.0.1", 0, ping_interval=0.05) as server:
                port = server.sockets[0].getsockname()[1]
                col = collector(rest, f"ws://127.0.0.1:{port}", lake, ["funding"], FAST)
                await run_until(col, lambda: len(connected) >= 2)
                return col

    col = asyncio.run(go())
    detected_after = connected[1] - went_quiet[0]
    limit = STALL * FRAME_EVERY_S
    assert limit <= detected_after < limit + 1.5, detected_after  # + slack for a loaded machine
    assert "no frame for" in (col.venues["binance"].last_error or "")


def test_a_steady_stream_is_never_taken_for_a_stall(lake: Lake) -> None:
    """Trades every 50 ms for 1.5 s against a 0.5 s stall limit: no reconnect."""

    async def handler(ws: ServerConnection) -> None:
        for i in range(30):
            await ws.send(trade(i))
            await asyncio.sleep(0.05)
        await ws.wait_closed()

    async def go() -> Collector:
        with FakeBinanceRest() as rest:
            async with serve(handler, "127.0.0.1", 0) as server:
                port = server.sockets[0].getsockname()[1]
                col = collector(rest, f"ws://127.0.0.1:{port}", lake, ["trades"], FAST)
                await run_until(col, lambda: written(col, "trades") >= 30)
                return col

    col = asyncio.run(go())
    assert written(col, "trades") == 30
    assert col.status.stalls["binance"] == 0 and col.venues["binance"].reconnects == 0


def test_a_handshake_refused_with_429_and_retry_after_is_not_retried_before_it(lake: Lake) -> None:
    """The server answers every handshake of a 2 s window with 429 and the seconds left in
    ``Retry-After``, like a venue's rate limit; the collector must wait it out, not hammer."""
    window = 2.0
    attempts: list[float] = []

    def limit(conn: ServerConnection, request: Any) -> Any:
        now = time.monotonic()
        attempts.append(now)
        left = attempts[0] + window - now
        if left <= 0:
            return None  # accept
        resp = conn.respond(429, "Too Many Requests\n")
        resp.headers["Retry-After"] = str(math.ceil(left))
        return resp

    async def handler(ws: ServerConnection) -> None:
        for i in range(10):
            await ws.send(trade(i))
        await ws.wait_closed()

    async def go() -> Collector:
        with FakeBinanceRest() as rest:
            async with serve(handler, "127.0.0.1", 0, process_request=limit) as server:
                port = server.sockets[0].getsockname()[1]
                col = collector(rest, f"ws://127.0.0.1:{port}", lake, ["trades"], FAST)
                await run_until(col, lambda: written(col, "trades") >= 10)
                return col

    col = asyncio.run(go())
    inside = [a for a in attempts if a < attempts[0] + window]
    assert len(inside) == 1, f"{len(inside)} handshakes inside the Retry-After window"
    assert window <= attempts[1] - attempts[0] < window * 1.1 + 1.0  # + slack for a loaded machine
    assert "HTTP 429, Retry-After 2 s: waiting 2 s" in (col.venues["binance"].last_error or "")
    assert written(col, "trades") == 10


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_s("30") == 30.0
    assert retry_after_s(None) is None and retry_after_s("soon") is None
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 55 < (retry_after_s(in_a_minute) or 0) <= 60


def run_once(
    lake: Lake,
    rest: FakeBinanceRest,
    frames: list[str],
    streams: list[str],
    until: Callable[[Collector], bool],
) -> Collector:
    """One collector run against a server sending ``frames`` then holding the socket open."""

    async def handler(ws: ServerConnection) -> None:
        for f in frames:
            await ws.send(f)
        await ws.wait_closed()

    async def go() -> Collector:
        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            col = collector(rest, f"ws://127.0.0.1:{port}", lake, streams)
            await run_until(col, lambda: until(col))
            return col

    return asyncio.run(go())


def test_trades_made_while_no_collector_ran_are_filled_on_restart(lake: Lake) -> None:
    """Run 1 stores trades 0–99 and stops; trades 100–199 happen while it is down; run 2's socket
    starts at 200. Run 2 reads the last stored id (99) and fetches 100–199 by REST; the liquidations
    missed during the downtime cannot be fetched and are listed unfilled."""
    with FakeBinanceRest() as rest:
        rest.agg_trades["BTCUSDT"] = [rest_trade(i) for i in range(300)]
        streams = ["trades", "liquidations"]
        run_once(
            lake,
            rest,
            [trade(i) for i in range(100)] + [liquidation(0)],
            streams,
            lambda c: written(c, "trades") >= 100 and written(c, "liquidations") >= 1,
        )
        first_alive = read_json(status_path(lake.root))["updated_ms"]
        time.sleep(0.2)  # the downtime
        run_once(
            lake,
            rest,
            [trade(i) for i in range(200, 300)],
            streams,
            lambda c: written(c, "trades") >= 200 and trades_status(c).gaps_filled >= 1,
        )
        assert [q["fromId"] for _, q in rest.hits("/fapi/v1/aggTrades")] == ["100"]
    assert read(lake, "trades")["trade_id"].to_list() == list(range(300))  # nothing lost
    snap = read_json(status_path(lake.root))
    assert snap["restart"]["previous_stopped_cleanly"] is True
    assert snap["restart"]["previous_last_alive_ms"] == first_alive
    st = {s["stream"]: s for s in snap["streams"]}
    assert st["trades"]["rows_filled"] == 100 and st["trades"]["gaps_unfilled"] == []
    ((a, b),) = st["liquidations"]["gaps_unfilled"]
    assert a == first_alive and b == snap["started_ms"] and b - a >= 200


def test_a_downtime_the_venue_cannot_fill_is_listed_as_a_gap(lake: Lake) -> None:
    """As above, but the REST endpoint refuses: the missed ids are listed unfilled in the status."""
    with FakeBinanceRest() as rest:
        run_once(
            lake, rest, [trade(i) for i in range(100)], ["trades"], lambda c: written(c, "trades") >= 100
        )
        rest.always["/fapi/v1/aggTrades"] = (400, {})
        run_once(
            lake,
            rest,
            [trade(i) for i in range(200, 300)],
            ["trades"],
            lambda c: written(c, "trades") >= 200 or bool(trades_status(c).gaps_unfilled),
        )
    snap = read_json(status_path(lake.root))
    (st,) = snap["streams"]
    assert st["gaps_unfilled"] == [[100, 199]]
    assert "trade gap 100..199 not filled" in snap["venues"][0]["last_error"]
    assert read(lake, "trades").height == 200


@pytest.mark.parametrize("gap", [5, 50])
def test_restart_gap_larger_than_the_rest_limit_is_listed_not_fetched(lake: Lake, gap: int) -> None:
    """A trade-id gap above ``max_trade_fill_ids`` (here 10) is listed unfilled, pointing to the archive."""
    with FakeBinanceRest() as rest:
        rest.agg_trades["BTCUSDT"] = [rest_trade(i) for i in range(200)]
        run_once(lake, rest, [trade(i) for i in range(10)], ["trades"], lambda c: written(c, "trades") >= 10)

        async def go() -> Collector:
            async def handler(ws: ServerConnection) -> None:
                for i in range(10 + gap, 20 + gap):
                    await ws.send(trade(i))
                await ws.wait_closed()

            async with serve(handler, "127.0.0.1", 0) as server:
                port = server.sockets[0].getsockname()[1]
                client = BinanceClient(BinanceUrls(rest.url, rest.url, f"ws://127.0.0.1:{port}"))
                col = Collector(
                    [BinanceLive(client, ["BTCUSDT"], ["trades"])],
                    lake,
                    lake.root,
                    LiveConfig(flush_seconds=0.05),
                    limits=LiveLimits(max_trade_fill_ids=10),
                )
                await run_until(
                    col,
                    lambda: (
                        written(col, "trades") >= 10
                        and trades_status(col).gaps_filled + len(trades_status(col).gaps_unfilled) >= 1
                    ),
                )
                return col

        col = asyncio.run(go())
    st = col.streams[("binance", "trades")]
    if gap <= 10:
        assert st.gaps_filled == 1 and st.gaps_unfilled == []
        assert read(lake, "trades").height == 20 + gap
    else:
        assert st.gaps_unfilled == [(10, 9 + gap)] and st.gaps_filled == 0
        assert "perpscope download" in (col.venues["binance"].last_error or "")


def test_bars_closed_while_no_collector_ran_are_filled_on_restart(lake: Lake) -> None:
    """Run 1 stores closed bars 0–2; bars 3–5 close while it is down; run 2's socket starts at bar 6."""
    m = 60_000
    t0 = T0 // m * m
    with FakeBinanceRest() as rest:
        rest.klines["BTCUSDT"] = [
            [t0 + i * m, "1", "2", "0.5", "1.5", "10", t0 + (i + 1) * m - 1, "15", 3, "4", "6", "0"]
            for i in range(7)
        ]
        run_once(
            lake,
            rest,
            [closed_kline_frame(t0 + i * m) for i in range(3)],
            ["klines"],
            lambda c: written(c, "candles") >= 3,
        )
        col = run_once(
            lake,
            rest,
            [closed_kline_frame(t0 + 6 * m)],
            ["klines"],
            lambda c: written(c, "candles") >= 4 and c.streams[("binance", "klines")].gaps_filled >= 1,
        )
        q = rest.hits("/fapi/v1/klines")[0][1]
        assert int(q["startTime"]) == t0 + 3 * m
    assert read(lake, "candles")["ts_ms"].dt.epoch("ms").to_list() == [t0 + i * m for i in range(7)]
    assert col.streams[("binance", "klines")].rows_filled == 3
