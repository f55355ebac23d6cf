"""Issue 21's writer probe kept as a test: a ``perpscope collect`` process whose store cannot be written
must not run on (or stop with exit 0) as if all were well. The fault is real, not mocked: the trades
folder of the data directory is a plain file, so every write of trades fails in ``Lake.write``.

Servers are real loopback ones (a websocket server sending Binance-shaped trade frames, the HTTP fake).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "venues" / "binance"))

from binance_data import ws_examples
from binance_servers import FakeBinanceRest
from websockets.asyncio.server import ServerConnection, serve

from perpscope.cli.collect_cmd import collect, status
from perpscope.ingest.live import Collector, LiveConfig, LiveLimits, status_path
from perpscope.ingest.state import read_json
from perpscope.store import Lake
from perpscope.store.reader import read
from perpscope.venues.binance.client import BinanceClient, BinanceUrls
from perpscope.venues.binance.live import BinanceLive

T0 = time.time_ns() // 1_000_000 - 3_600_000
N = 3000
#: `perpscope collect` with only this command registered (a second keeps typer in sub-command mode)
CLI = (
    "import typer; from perpscope.cli.collect_cmd import collect; "
    "a = typer.Typer(); a.command()(collect); a.command('x')(lambda: None); a()"
)


def trade(i: int) -> str:
    ev = {**ws_examples()["aggTrade"], "E": T0 + i, "s": "BTCUSDT", "a": i, "f": i, "l": i, "T": T0 + i}
    return json.dumps({"stream": "btcusdt@aggTrade", "data": ev})


async def send_trades(ws: ServerConnection) -> None:
    for i in range(N):
        await ws.send(trade(i))
    await ws.wait_closed()


@pytest.fixture
def ws_port() -> Iterator[int]:
    """A websocket server in its own thread sending ``N`` trades to each connection."""
    port: list[int] = []
    ready, done = threading.Event(), threading.Event()

    def run() -> None:
        async def main() -> None:
            async with serve(send_trades, "127.0.0.1", 0) as server:
                port.append(server.sockets[0].getsockname()[1])
                ready.set()
                while not done.is_set():
                    await asyncio.sleep(0.05)

        asyncio.run(main())

    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert ready.wait(5)
    yield port[0]
    done.set()
    t.join(5)


def unwritable_trades(data: Path) -> None:
    """Make every store write of trades fail: their record folder is a plain file."""
    data.mkdir(parents=True)
    (data / "trades").write_text("not a folder: writes of trades fail here\n")


def start_collect(data: Path, rest_url: str, ws_port: int, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            CLI,
            "collect",
            "--streams",
            "trades",
            "--quiet",
            "--flush-seconds",
            "0.1",
            "--rest-url",
            rest_url,
            "--ws-url",
            f"ws://127.0.0.1:{ws_port}",
            *extra,
        ],
        env={**os.environ, "PERPSCOPE_DATA": str(data)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def collect_status(data: Path) -> str:
    app = typer.Typer()
    app.command("collect")(collect)
    app.command("collect-status")(status)
    res = CliRunner().invoke(app, ["collect-status"], env={"PERPSCOPE_DATA": str(data), "COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    return res.output


def test_a_writer_that_cannot_recover_stops_the_process_with_exit_1(tmp_path: Path, ws_port: int) -> None:
    data = tmp_path / "data"
    unwritable_trades(data)
    with FakeBinanceRest() as rest:
        t = time.monotonic()
        proc = start_collect(data, rest.url, ws_port, "--writer-give-up-seconds", "1")
        try:
            out = proc.communicate(timeout=30)[0].decode()
        finally:
            if proc.poll() is None:
                proc.kill()
        took = time.monotonic() - t
    assert proc.returncode == 1, out
    assert took < 20  # it stopped by itself, about 1 s after the first failed write
    assert "store writer" in out and "rows not written" in out, out
    assert "flush failed" in out  # each failure was logged as it happened
    snap = read_json(status_path(data))
    assert snap["failure"] and f"{N:,} rows not written" in snap["failure"]
    assert snap["writer"]["consecutive_failures"] >= 2 and snap["flush_errors"] >= 2
    assert snap["stopped"] is True
    shown = collect_status(data)
    assert "store writer failed" in shown and "rows not written" in shown


def test_rows_still_unwritten_on_sigterm_make_the_exit_code_1(tmp_path: Path, ws_port: int) -> None:
    data = tmp_path / "data"
    unwritable_trades(data)
    with FakeBinanceRest() as rest:
        proc = start_collect(data, rest.url, ws_port, "--writer-give-up-seconds", "3600")
        try:
            t = time.monotonic()
            while time.monotonic() - t < 20:  # running, its writes failing and retried
                snap = read_json(status_path(data)) or {}
                if (snap.get("writer") or {}).get("consecutive_failures", 0) >= 3:
                    break
                time.sleep(0.05)
            shown_while_running = collect_status(data)
            proc.send_signal(signal.SIGTERM)
            out = proc.communicate(timeout=30)[0].decode()
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "store writes failing" in shown_while_running and "retried every flush" in shown_while_running
    assert proc.returncode == 1, out
    assert "rows not written on stop" in out, out


def test_a_writer_that_recovers_writes_every_row_and_says_it_failed(lake: Lake) -> None:
    """Writes fail until the obstacle is removed; the kept rows are then written, nothing is lost."""
    unwritable_trades(lake.root)

    async def go() -> Collector:
        with FakeBinanceRest() as rest:
            async with serve(send_trades, "127.0.0.1", 0) as server:
                port = server.sockets[0].getsockname()[1]
                feed = BinanceLive(
                    BinanceClient(BinanceUrls(rest.url, rest.url, f"ws://127.0.0.1:{port}")),
                    ["BTCUSDT"],
                    ["trades"],
                )
                col = Collector(
                    [feed],
                    lake,
                    lake.root,
                    LiveConfig(flush_seconds=0.05),
                    limits=LiveLimits(writer_give_up_s=60),
                )
                task = asyncio.create_task(col.run())
                t = time.monotonic()
                while col.writer.health.consecutive_failures < 3 and time.monotonic() - t < 10:
                    await asyncio.sleep(0.02)
                (lake.root / "trades").unlink()  # the disk is fixed
                while col.sink.written.get(("binance", "trades"), 0) < N and time.monotonic() - t < 20:
                    await asyncio.sleep(0.02)
                col.stop()
                await task
                return col

    col = asyncio.run(go())
    assert col.failure is None
    h = col.writer.health
    assert h.recovered == 1 and h.failing_since_ms is None and h.consecutive_failures == 0
    assert col.sink.flush_errors >= 3 and "trades" in (h.last_error or "")
    assert read(lake, "trades")["trade_id"].to_list() == list(range(N))


def test_a_batch_the_sink_cannot_even_build_is_counted_and_later_batches_still_written(lake: Lake) -> None:
    """A frame whose trade id does not fit Int64 makes the sink fail while building the batch's frame
    (the rows are gone by then: the sink swapped them out). The writer must go on with the next
    batches, and the run must end with a failure that counts the dropped rows. (Rejecting the one bad
    row before it spoils its batch is the sink's row validation, not this supervisor's job.)"""
    bad = json.loads(trade(500))
    bad["data"]["a"] = 2**70
    frames = [trade(i) for i in range(500)] + [json.dumps(bad)] + [trade(i) for i in range(501, N)]

    async def handler(ws: ServerConnection) -> None:
        for i, f in enumerate(frames):
            await ws.send(f)
            if i % 100 == 0:
                await asyncio.sleep(0.01)  # batches of a few hundred rows, as a live socket delivers
        await ws.wait_closed()

    async def go() -> Collector:
        with FakeBinanceRest() as rest:
            async with serve(handler, "127.0.0.1", 0) as server:
                port = server.sockets[0].getsockname()[1]
                feed = BinanceLive(
                    BinanceClient(BinanceUrls(rest.url, rest.url, f"ws://127.0.0.1:{port}")),
                    ["BTCUSDT"],
                    ["trades"],
                )
                col = Collector([feed], lake, lake.root, LiveConfig(flush_seconds=0.05))
                task = asyncio.create_task(col.run())
                t = time.monotonic()
                while time.monotonic() - t < 10:
                    st = col.streams.get(("binance", "trades"))
                    if st is not None and st.messages >= N and col.sink.pending == 0:
                        break
                    await asyncio.sleep(0.02)
                col.stop()
                await task
                return col

    col = asyncio.run(go())
    h = col.writer.health
    stored = read(lake, "trades")["trade_id"].to_list()
    assert 0 < h.rows_dropped < N and len(stored) == N - h.rows_dropped  # every row stored or counted
    assert stored[-1] == N - 1  # batches after the bad one were written
    assert col.failure is not None and f"{h.rows_dropped:,} rows dropped" in col.failure
    snap = read_json(status_path(lake.root))
    assert snap["writer"]["rows_dropped"] == h.rows_dropped and snap["failure"] == col.failure
