"""Live-capture benchmark: a loopback websocket server (another process) sends Binance ``aggTrade`` and
``forceOrder`` messages as fast as the collector reads them; the collector parses, batches and writes
them to a fresh store. Target: ≥ 200,000 messages/s sustained, p99 latency socket → batch < 10 ms.

Messages are recorded real ones: the liquidations of ``../shared/data/binance_force_orders`` (symbols,
sides, prices, quantities as recorded) and the aggregated trades of the archive fixture
(``tests/fixtures/archive``), cycled, each stamped with the time it is sent; synthetic ones of the same
shape when the shared data is absent.

Reference, same process, interleaved: a bare ``websockets`` client that decodes every frame with
``orjson`` and keeps nothing — what reading the stream the usual Python way costs before any work.

Latency is measured from the server's send time, written into each message's event time in ms (so
its resolution is 1 ms), to the row being appended to the in-memory batch ("to batch"), and to the end
of the store write that made it durable ("to store": bounded by the flush period, 1 s, by design — the
kill -9 loss bound).

The collector runs in a fresh process of its own, as ``perpscope collect`` does: run inside the
process of ``make bench`` it would share a heap left by the benchmarks before it (some 180,000 tracked
objects), whose full garbage collections showed up as p99 latency (47–102 ms there, 20–22 ms in a fresh
process).

Sustained (:func:`sustained`): the stream paced at a peak rate and held (aggregated trades, with
liquidations at Binance's cap of one per symbol per second), into a store whose month already holds
1 M trades; each committed row timed from its send to the end of the flush that committed it. The
write paths run interleaved in one sitting: the write-ahead log (``log``: one append and one
fdatasync per record per flush, :mod:`perpscope.store.live_log`) and the previous path, fsynced part
files per partition per flush (``append``); ``append-nosync`` and ``rewrite`` (every flush merged into
its month file) can be asked for. Each run prints the collector process's CPU microseconds
per row committed (the machine is shared: CPU time is steadier than wall time), a flush's time split
into its log appends and fdatasyncs, and the rows the store holds after the run.

``python -m benchmarks.bench_collect`` prints the figures; ``… sustained [RATE [SECONDS [ROUNDS [MODES]]]]``
only the sustained runs (``MODES`` comma-separated; ``log-switch=S`` is the log path with the collector's
thread switch interval set to ``S`` seconds, ``log-drain=S`` with the sockets' drain timer at ``S``,
``log-seal=MB`` sealing log segments of ``MB`` megabytes, ``log-idle=0`` with the sealer at ``nice`` +10
rather than ``SCHED_IDLE``; ``log+seal=8+idle=0`` several at once, ``log+seal=8@base`` for the baseline).
Each run prints the sealer process's CPU (start-up and the seal on stop
included) and the seals hurried out of ``SCHED_IDLE`` for a backlog.
With ``PERPSCOPE_BASELINE_SRC`` set to another checkout's ``src``, ``log@base`` runs that checkout's
collector interleaved with this one's.
``… flush [FRAMES,… [ROUNDS]]`` prints the CPU of one flush (the batch parser's ``take``, then the
commit) per flush size, without sockets, this checkout's collector alternated with
``PERPSCOPE_BASELINE_SRC``'s in fresh processes (:func:`flush_cpu`).
``… trace [RATE [SECONDS [MODE]]]`` runs the log path (or a ``log`` mode) once with its stages timed
(:mod:`benchmarks.collect_trace`): where a row's time goes, flush sizes and intervals, GC pauses, and
how late the server's own writes were against its pace (its send stamp is taken when a chunk is
written; ms resolution).
``--serve PORT N RATE LIQ_PER_S`` is the server process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from tests.venues.binance.binance_data import force_order_messages

from benchmarks.common import Result
from perpscope.core.config import shared_data_dir
from perpscope.ingest.live import Collector, LiveConfig
from perpscope.records import TRADES, RecordType
from perpscope.store import Lake
from perpscope.store.reader import read
from perpscope.venues.binance.client import BinanceClient, BinanceUrls
from perpscope.venues.binance.live import BinanceLive

N_MESSAGES = 200_000
#: A file the server writes its pacing figures to once it has sent everything (the trace reads it).
SERVE_STATS_ENV = "PERPSCOPE_BENCH_SERVE_STATS"
#: Collector and reference runs, interleaved (the best of each is kept: the machine's speed drifts).
ROUNDS = 3
#: Paced rates for the latency figures (messages per second).
PACED_RATES = (25_000, 100_000)
SAMPLE_EVERY = 20
#: Frames the server writes at once (one ``write``; their send time is the time of that write).
SEND_CHUNK = 200

_TRADE = (
    '{{"stream":"btcusdt@aggTrade","data":{{"e":"aggTrade","E":{t},"s":"BTCUSDT","a":{i},"p":"87123.4",'
    '"q":"0.013","f":{i},"l":{i},"T":{t},"m":{m}}}}}'
)
_LIQ = (
    '{{"stream":"!forceOrder@arr","data":{{"e":"forceOrder","E":{t},"o":{{"s":"{s}","S":"{side}",'
    '"o":"LIMIT","f":"IOC","q":"0.5","p":"{p}","ap":"{p}","X":"FILLED","l":"0.5","z":"0.5","T":{t}}}}}}}'
)
_SYMS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT")


def _ws_frame(payload: bytes) -> bytes:
    """One unmasked server → client text frame (RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


def _recorded_templates() -> list[str]:
    """Message templates (``{t}`` the send time, ``{i}`` a running id) from recorded real events:
    liquidations of the shared data interleaved with the archive fixture's aggregated trades."""
    import json
    import zipfile

    root = Path(__file__).resolve().parents[1]
    shared = shared_data_dir()
    agg_zip = (
        root
        / "tests/fixtures/archive/data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-27.zip"
    )
    # 2,045 liquidations: the cycle repeats a liquidation (same key) no sooner than 4,090 messages later,
    # 20 ms at 200,000 msg/s — so no two sends of one fall in the same ms and the store keeps them all
    if shared is None or not agg_zip.exists():
        return []
    liqs = force_order_messages(shared)
    if not liqs:
        return []
    with zipfile.ZipFile(agg_zip) as zf:
        import io

        aggs = pl.read_csv(io.BytesIO(zf.read(zf.namelist()[0])))

    def fmt(obj: dict[str, Any]) -> str:
        text = json.dumps(obj, separators=(",", ":")).replace("{", "{{").replace("}", "}}")
        return text.replace('"@T@"', "{t}").replace('"@I@"', "{i}")

    out = []
    trades = list(aggs.iter_rows(named=True))
    for k, m in enumerate(liqs):
        m["E"] = m["o"]["T"] = "@T@"  # stamped at the send time (the latency measured is ours)
        out.append(fmt({"stream": "!forceOrder@arr", "data": m}))
        a = trades[k % len(trades)]
        d = {
            "e": "aggTrade",
            "E": "@T@",
            "s": "BTCUSDT",
            "a": "@I@",
            "p": str(a["price"]),
            "q": str(a["quantity"]),
            "f": "@I@",
            "l": "@I@",
            "T": "@T@",
            "m": a["is_buyer_maker"],
        }
        out.append(fmt({"stream": "btcusdt@aggTrade", "data": d}))
    return out


_TEMPLATES: list[str] = []
#: With a sustained mix: message ``i`` is a liquidation when ``i % _LIQ_EVERY == 0``, else a trade.
_LIQ_EVERY = [0]


def _message(i: int, t: int) -> bytes:
    every = _LIQ_EVERY[0]
    if every:
        nliq = len(_TEMPLATES) // 2 if _TEMPLATES else len(_SYMS)
        k = i // every  # liquidations before this message (this one excluded)
        if i % every == 0:
            if _TEMPLATES:
                return _TEMPLATES[2 * (k % nliq)].format(t=t, i=0).encode()
            return _LIQ.format(t=t, s=_SYMS[k % 5], side="SELL", p=f"{80000 + k * 0.1:.1f}").encode()
        j = i - k - 1  # trade ids run 0, 1, 2, … across the liquidations (no gap to fill)
        if _TEMPLATES:
            return _TEMPLATES[2 * (j % nliq) + 1].format(t=t, i=j).encode()
        return _TRADE.format(t=t, i=j, m="true" if j % 3 else "false").encode()
    if _TEMPLATES:
        # trades are the odd messages: i // 2 numbers them 0, 1, 2, … (no id gap for the collector to fill)
        return _TEMPLATES[i % len(_TEMPLATES)].format(t=t, i=i // 2).encode()
    if i % 2:
        return _TRADE.format(t=t, i=i // 2, m="true" if i % 3 else "false").encode()
    side = "SELL" if i % 4 else "BUY"
    return _LIQ.format(t=t, s=_SYMS[i % 5], side=side, p=f"{80000 + i * 0.1:.1f}").encode()


async def _serve(port: int, n: int, rate: int = 0, liq_per_s: int = 0) -> None:
    """Send ``n`` messages to each connection: as fast as the socket takes them, or ``rate`` per second
    (with ``liq_per_s``, that many of them liquidations, the rest trades; else half and half).

    A bare asyncio server that answers the websocket handshake and writes ready-made frames in chunks of
    :data:`SEND_CHUNK` stamped with the time they are written: a websocket library's server costs more
    per message than the collector under test (the previous ``websockets`` server capped the figure)."""
    import base64
    import hashlib

    _TEMPLATES.extend(_recorded_templates())
    _LIQ_EVERY[0] = max(1, rate // liq_per_s) if rate and liq_per_s else 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # the readiness probe of :func:`measure`
        keys = [
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        ]
        if not keys:
            writer.close()
            return
        key = keys[0]
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        chunk = min(SEND_CHUNK, max(1, rate // 1000)) if rate else SEND_CHUNK
        start = time.monotonic()
        late: list[float] = []  # per chunk: how late its write began against the pace (s)
        for i0 in range(0, n, chunk):
            if rate:
                await asyncio.sleep(max(0.0, start + i0 / rate - time.monotonic()))
                late.append(time.monotonic() - start - i0 / rate)
            t = time.time_ns() // 1_000_000
            writer.write(b"".join(_ws_frame(_message(i, t)) for i in range(i0, min(n, i0 + chunk))))
            await writer.drain()
        stats = os.environ.get(SERVE_STATS_ENV)
        if stats and late:
            import json

            lag = np.asarray(late) * 1000
            Path(stats).write_text(
                json.dumps(
                    {
                        "late p50 ms": float(np.percentile(lag, 50)),
                        "late p99 ms": float(np.percentile(lag, 99)),
                        "late max ms": float(lag.max()),
                        "cpu s": time.process_time(),
                        "send s": time.monotonic() - start,
                    }
                )
            )
        with contextlib.suppress(ConnectionError):
            await reader.read()  # until the collector closes
        writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", port)
    async with server:
        await asyncio.sleep(3600)


async def _drive(port: int, n: int, data: Path, flush_s: float) -> dict[str, Any]:
    lake = Lake(data)
    to_batch: list[int] = []
    to_store: list[int] = []
    count = [0]
    first_last = [0, 0]

    def observe(rt: RecordType, ts_ms: pl.Series, recv_ns: int) -> None:
        if count[0] == 0:
            first_last[0] = time.perf_counter_ns()
        count[0] += ts_ms.len()
        first_last[1] = time.perf_counter_ns()
        now_ms = time.time_ns() // 1_000_000
        to_batch.extend((now_ms - ts_ms.to_numpy()[::SAMPLE_EVERY]).tolist())

    def on_flush(frames: dict[RecordType, pl.DataFrame], done_ns: int) -> None:
        done_ms = done_ns // 1_000_000
        for df in frames.values():
            ts = df.get_column("ts_ms").gather_every(SAMPLE_EVERY).dt.epoch("ms")
            to_store.extend((done_ms - ts).to_list())

    url = f"http://127.0.0.1:{port}"
    client = BinanceClient(BinanceUrls(url, url, f"ws://127.0.0.1:{port}"))
    feed = BinanceLive(client, ["BTCUSDT"], ["liquidations", "trades"])
    cfg = LiveConfig(flush_seconds=flush_s, max_batch=100_000, ping_interval_s=None)
    col = Collector([feed], lake, data, cfg, observe=observe, on_flush=on_flush)
    task = asyncio.create_task(col.run())
    t0 = time.monotonic()
    # a recorded frame the parser refuses (a symbol it cannot read) is counted malformed, not observed
    while count[0] + feed.parser.malformed < n and time.monotonic() - t0 < 120:
        await asyncio.sleep(0.05)
    col.stop()
    await task
    rows = read(lake, "trades").height + read(lake, "liquidations").height
    secs = (first_last[1] - first_last[0]) / 1e9 if first_last[1] else float("nan")
    return {
        "n": count[0],
        "secs": secs,
        "rows": rows,
        "to_batch": to_batch,
        "to_store": to_store,
        "malformed": feed.parser.malformed,
    }


def _drive_in_process(port: int, n: int, data: Path, flush_s: float) -> dict[str, Any]:
    return asyncio.run(_drive(port, n, data, flush_s))


async def _sustain(port: int, n: int, data: Path, flush_s: float, fsync: bool, path: str) -> dict[str, Any]:
    """The collector under a paced stream: every flush's rows timed from their send (the server stamps
    each message's event time when it writes it) to the end of the store write that committed them."""
    lake = Lake(data)
    lat: list[np.ndarray] = []
    read_lat: list[np.ndarray] = []
    committed = [0]

    def observe(rt: RecordType, ts_ms: pl.Series, recv_ns: int) -> None:
        read_lat.append(time.time_ns() // 1_000_000 - ts_ms.to_numpy()[::SAMPLE_EVERY])

    ends = [0, 0]  # wall ns of the first and the last commit
    cpu = [0.0, 0.0, 0]  # the process's CPU seconds at the first and the last commit, rows between

    def on_flush(frames: dict[RecordType, pl.DataFrame], done_ns: int) -> None:
        if not frames:
            return
        if not ends[0]:
            ends[0] = done_ns
            cpu[0] = time.process_time()
        else:
            cpu[2] += sum(df.height for df in frames.values())
        ends[1] = done_ns
        cpu[1] = time.process_time()
        done_ms = done_ns // 1_000_000
        for df in frames.values():
            committed[0] += df.height
            lat.append(done_ms - df.get_column("ts_ms").dt.epoch("ms").to_numpy()[::SAMPLE_EVERY])

    url = f"http://127.0.0.1:{port}"
    client = BinanceClient(BinanceUrls(url, url, f"ws://127.0.0.1:{port}"))
    feed = BinanceLive(client, ["BTCUSDT"], ["liquidations", "trades"])
    cfg = LiveConfig(
        flush_seconds=flush_s, max_batch=10**9, ping_interval_s=None, fsync=fsync, write_path=path
    )
    if _CFG:
        cfg = dataclasses.replace(cfg, **_CFG)
    col = Collector([feed], lake, data, cfg, observe=observe, on_flush=on_flush)
    import resource

    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the sealer process, once it has exited
    task = asyncio.create_task(col.run())
    t0 = time.monotonic()
    while committed[0] + feed.parser.malformed < n and time.monotonic() - t0 < 180:
        await asyncio.sleep(0.02)
    col.stop()
    await task
    kids_end = resource.getrusage(resource.RUSAGE_CHILDREN)
    parts = sum(1 for _ in data.rglob("*.part-*.parquet"))
    stored = read(lake, "trades").height + read(lake, "liquidations").height
    return {
        # the sealer's CPU over the run, its start-up and its seal on stop included
        "sealer_cpu_s": (kids_end.ru_utime - kids.ru_utime) + (kids_end.ru_stime - kids.ru_stime),
        "hurried": getattr(col.sink, "seals_hurried", 0),
        "n": committed[0],
        "lat": np.concatenate(lat) if lat else np.zeros(0),
        "read_lat": np.concatenate(read_lat) if read_lat else np.zeros(0),
        "first_ns": ends[0],
        "last_ns": ends[1],
        "flushes": col.sink.flushes,
        "compactions": col.sink.compactions,
        "seals": col.sink.seals,
        "parts_left": parts,
        "stored": stored,
        # the collector's CPU (all its threads) per row committed between its first and last commit:
        # the hot path's cost, without start-up (reading the seeded month) and the seal on stop
        "cpu_us_per_row": (cpu[1] - cpu[0]) / max(cpu[2], 1) * 1e6,
        "timings": np.asarray(col.sink.timings, dtype=float).reshape(-1, 3) * 1000,  # ms
    }


#: Settings a mode changes (``log-switch=S``: ``LiveConfig.gil_switch_s``; ``log-seal=MB``:
#: ``LiveConfig.seal_bytes``), in this worker process
_CFG: dict[str, Any] = {}


def _sustain_in_process(
    port: int, n: int, data: Path, flush_s: float, mode: str, seed_rows: int = 0, trace: bool = False
) -> dict[str, Any]:
    """``mode``: ``log`` (each flush appended to the write-ahead log and fdatasynced, sealed into parts
    later), ``append`` (parts per flush, fsynced), ``append-nosync`` (the same without fsync), or
    ``rewrite`` (the earlier write path: every flush merged into and rewriting its month file).
    ``seed_rows``: BTCUSDT trades already in this month's file before the stream starts (a store in
    use is not empty; the rewrite path's cost grows with the month file), ids running up to -1 so the
    stream's first id 0 follows them (no gap for the collector to fill)."""
    if seed_rows:
        now = time.time_ns() // 1_000_000
        ids = np.arange(-seed_rows, 0, dtype=np.int64)
        Lake(data).write(
            TRADES,
            pl.DataFrame(
                {
                    "venue": "binance",
                    "symbol": "BTCUSDT",
                    "canonical": "BTC-USDT-PERP",
                    "market": "perp",
                    "ts_ms": now - 60_000 + ids // 100,  # the last minute's worth at 100 per ms
                    "trade_id": ids,
                    "price": 87_000.0 + (ids % 1000) / 10,
                    "qty_base": 0.01,
                    "taker_side": np.where(ids % 2 == 0, "buy", "sell"),
                }
            ),
            source="stream:binance",
        )
    if mode == "rewrite":

        def rewrite(self: Lake, record: RecordType, frame: pl.DataFrame, **_: Any) -> Any:
            return self.write(record, frame)

        Lake.append = rewrite  # type: ignore[method-assign]  # in this worker process only
    mode, *more = mode.split("+")  # ``log+seal=8+idle=0``: several settings at once
    for setting in more:
        key, value = setting.split("=")
        if key == "seal":
            _CFG["seal_bytes"] = int(float(value) * 2**20)
        elif key == "idle":
            _CFG["seal_idle"] = value == "1"
        else:
            raise ValueError(f"unknown setting {setting!r} in a sustained mode")
    if mode.startswith("log-switch="):  # the log path with another thread switch interval (s)
        _CFG["gil_switch_s"] = float(mode.split("=")[1])
        mode = "log"
    if mode.startswith("log-seal="):  # the log path sealing segments of another size (MB)
        _CFG["seal_bytes"] = int(float(mode.split("=")[1]) * 2**20)
        mode = "log"
    if mode.startswith("log-idle="):  # the log path with the sealer idle-scheduled (1) or not (0)
        _CFG["seal_idle"] = mode.split("=")[1] == "1"
        mode = "log"
    if mode.startswith("log-drain="):  # the log path with another drain timer (s)
        from perpscope.ingest import socket_loop

        socket_loop.DRAIN_AFTER_S = float(mode.split("=")[1])
        mode = "log"
    path = "log" if mode == "log" else "parts"
    if trace:  # the stages timed (benchmarks.collect_trace): this worker's collector wrapped
        from benchmarks import collect_trace

        tr = collect_trace.install()
        out = asyncio.run(_sustain(port, n, data, flush_s, fsync=mode != "append-nosync", path=path))
        return {**out, "trace": tr.summary()}
    return asyncio.run(_sustain(port, n, data, flush_s, fsync=mode != "append-nosync", path=path))


async def _read_bare(port: int, n: int) -> dict[str, Any]:
    """The reference: a ``websockets`` client decoding each frame with orjson, keeping nothing."""
    import orjson
    from websockets.asyncio.client import connect

    got = 0
    first = 0
    async with connect(f"ws://127.0.0.1:{port}", max_size=2**22, compression=None, ping_interval=None) as ws:
        async for raw in ws:
            if got == 0:
                first = time.perf_counter_ns()
            orjson.loads(raw)
            got += 1
            if got == n:
                break
        secs = (time.perf_counter_ns() - first) / 1e9
    return {"n": got, "secs": secs}


def _read_bare_in_process(port: int, n: int, data: Path, flush_s: float) -> dict[str, Any]:
    return asyncio.run(_read_bare(port, n))


def measure(
    n: int = N_MESSAGES,
    flush_s: float = 1.0,
    rate: int = 0,
    bare: bool = False,
    mode: str | None = None,
    liq_per_s: int = 0,
    seed_rows: int = 0,
    trace: bool = False,
) -> dict[str, Any]:
    """Run the server process (unpaced, or paced at ``rate`` msg/s) and the collector (or, ``bare``,
    the reference reader; or with ``mode`` the sustained run of :func:`_sustain_in_process`)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    stats = Path(tempfile.mkstemp(suffix=".json")[1])
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_collect", "--serve", *map(str, (port, n, rate, liq_per_s))],
        cwd=root,
        env={**os.environ, SERVE_STATS_ENV: str(stats)},
    )
    try:
        for _ in range(600):  # until the server listens (its start-up is slow on a busy machine)
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        base = mode is not None and mode.endswith(BASE_SUFFIX)
        with tempfile.TemporaryDirectory() as d, _pool(os.environ[BASELINE_ENV] if base else None) as pool:
            if mode is not None:
                sent_ns = time.time_ns()
                args = (port, n, Path(d) / "data", flush_s, mode.removesuffix(BASE_SUFFIX), seed_rows)
                out = pool.apply(_sustain_in_process, args, {"trace": True} if trace else {})
                return {**out, "sent_ns": sent_ns, "server": _server_stats(stats)}
            fn = _read_bare_in_process if bare else _drive_in_process
            return pool.apply(fn, (port, n, Path(d) / "data", flush_s))
    finally:
        server.kill()
        server.wait()
        stats.unlink(missing_ok=True)


def _server_stats(path: Path) -> dict[str, Any]:
    """The server's pacing figures (how late its chunks were written against the pace, its CPU)."""
    import json

    for _ in range(100):  # written once the last chunk is sent, which may trail the last commit a little
        with contextlib.suppress(ValueError, OSError):
            if path.stat().st_size:
                return dict(json.loads(path.read_text()))
        time.sleep(0.05)
    return {}


#: Another checkout's ``src``: a sustained mode ending in :data:`BASE_SUFFIX` (``log@base``) runs its
#: collector, interleaved with this one's — before and after a change, under the same load.
BASELINE_ENV = "PERPSCOPE_BASELINE_SRC"
BASE_SUFFIX = "@base"


def _pool(src: str | None) -> Any:
    """A one-process pool whose ``perpscope`` is this checkout's, or the one in ``src``: a spawned
    child starts with the parent's ``sys.path`` as it was when the pool was made."""
    if src is None:
        return mp.get_context("spawn").Pool(1)
    sys.path.insert(0, src)
    try:
        return mp.get_context("spawn").Pool(1)
    finally:
        sys.path.remove(src)


def parse_rates(n: int = 200_000) -> tuple[float, float]:
    """Liquidation frames parsed per second: OKX (``liquidation-orders``, contracts → base through the
    instrument table) and Binance (``forceOrder``, the reference), same count, same process."""
    from benchmarks.common import best_of
    from perpscope.venues.binance.wire import StreamParser as BinanceParser
    from perpscope.venues.okx.wire import OkxInstrument
    from perpscope.venues.okx.wire import StreamParser as OkxParser

    t0 = 1_766_800_000_000
    okx_frames = [
        '{"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"instId":"BTC-USDT-SWAP",'
        f'"instType":"SWAP","details":[{{"bkLoss":"0","bkPx":"{87000 + i % 500}","posSide":"net",'
        f'"side":"{"sell" if i % 2 else "buy"}","sz":"13","ts":"{t0 + i}"}}]}}]}}'
        for i in range(n)
    ]
    bn_frames = [
        _LIQ.format(t=t0 + i, s="BTCUSDT", side="SELL" if i % 2 else "BUY", p=87000 + i % 500)
        for i in range(n)
    ]
    ins = {
        "BTC-USDT-SWAP": OkxInstrument(
            "BTC-USDT-SWAP", "BTC", "USDT", "perp", 0.01, 1.0, False, "BTC-USDT-PERP"
        )
    }

    def okx() -> None:
        p = OkxParser(ins)
        for f in okx_frames:
            p.parse(f)

    def binance() -> None:
        p = BinanceParser()
        for f in bn_frames:
            p.parse(f)

    return n / best_of(okx), n / best_of(binance)


def run() -> list[Result]:
    okx_rate, bn_rate = parse_rates()
    # saturated (the server sends faster than the reader takes), collector and reference in turn
    ours, ref = [], []
    for _ in range(ROUNDS):
        m = measure()
        assert m["rows"] == m["n"], (m["rows"], m["n"])  # every message stored exactly once
        ours.append(m["n"] / m["secs"])
        r = measure(bare=True)
        ref.append(r["n"] / r["secs"])
    rate, ref_rate = max(ours), max(ref)
    out = [
        Result(
            f"live capture: {N_MESSAGES:,} trade+liquidation msgs",
            rate,
            "msg/s",
            reference="websockets+orjson, store nothing",
            ratio=rate / ref_rate,
            target="target ≥ 200,000 msg/s",
        )
    ]
    for paced_rate in PACED_RATES:  # latency below saturation
        paced = measure(n=paced_rate * 6, rate=paced_rate)
        assert paced["rows"] == paced["n"], (paced["rows"], paced["n"])
        b = np.asarray(paced["to_batch"], dtype=float)
        s = np.asarray(paced["to_store"], dtype=float)
        at = f"at {paced_rate:,} msg/s"
        out += [
            Result(f"live latency to batch p50 {at}", float(np.percentile(b, 50)), "ms"),
            Result(
                f"live latency to batch p99 {at}", float(np.percentile(b, 99)), "ms", target="target < 10 ms"
            ),
            Result(f"live latency to store p50 {at}, flush 1 s", float(np.percentile(s, 50)), "ms"),
            Result(f"live latency to store p99 {at}, flush 1 s", float(np.percentile(s, 99)), "ms"),
        ]
    # sustained: the paced peak mix held for SUSTAIN_S, the write-ahead log (this write path) against
    # a part file per partition per flush (the previous one), interleaved; the best run of each
    runs = sustained(modes=("log", "append"))
    best = {m: max((r for r in runs if r["mode"] == m), key=lambda r: r["rate"]) for m in ("log", "append")}
    low = {m: min((r for r in runs if r["mode"] == m), key=lambda r: r["p99"]) for m in ("log", "append")}
    out += [
        Result(
            f"live sustained {SUSTAIN_RATE:,} msg/s offered: committed",
            best["log"]["rate"],
            "rows/s",
            reference="part files per flush",
            ratio=best["log"]["rate"] / max(best["append"]["rate"], 1e-9),
            target="target ≥ 200,000 sustained",
        ),
        Result(
            "live sustained: socket → committed row p99",
            low["log"]["p99"],
            "ms",
            reference="part files per flush",
            ratio=low["append"]["p99"] / max(low["log"]["p99"], 1e-9),
            target="target < 10 ms",
        ),
    ]
    out.append(
        Result(
            "OKX liquidation frames parsed (contracts → base)",
            okx_rate,
            "msg/s",
            reference="Binance forceOrder parse",
            ratio=okx_rate / bn_rate,
        )
    )
    return out


#: Sustained runs: the paced rate (msg/s), how long it is held (s), and the flush period (a flush
#: starts as soon as the previous one ends when rows wait longer than this).
SUSTAIN_RATE = 200_000
SUSTAIN_S = 10
SUSTAIN_FLUSH_S = 0.002
SUSTAIN_MODES = ("log", "append")
#: Liquidations per second within the sustained stream: Binance pushes at most one liquidation per
#: symbol per second on ``!forceOrder@arr`` ("only the latest one liquidation order within 1000ms",
#: USDⓈ-M futures docs), and the recording holds 256 symbols — every one liquidating at once.
SUSTAIN_LIQ_PER_S = 256
#: BTCUSDT trades in the month file before a sustained run: about a quiet day of aggregated trades
#: (a month of a busy symbol holds tens of millions).
SUSTAIN_SEED_ROWS = 1_000_000


def sustained(
    rate: int = SUSTAIN_RATE,
    seconds: float = SUSTAIN_S,
    rounds: int = ROUNDS,
    modes: tuple[str, ...] = SUSTAIN_MODES,
    seed_rows: int = SUSTAIN_SEED_ROWS,
) -> list[dict[str, Any]]:
    """``rounds`` interleaved runs of each write ``mode`` under a stream paced at ``rate`` msg/s for
    ``seconds``: per run the committed rate, p50/p90/p99/max socket → committed row, and the load
    average. With :data:`BASELINE_ENV` set, ``log@base`` (that checkout's collector) runs too."""
    if os.environ.get(BASELINE_ENV) and not any(m.endswith(BASE_SUFFIX) for m in modes):
        modes = (*modes, "log" + BASE_SUFFIX)
    n = int(rate * seconds)
    out = []
    for r in range(rounds):
        for mode in modes:
            load = os.getloadavg()[0]
            m = measure(
                n=n,
                rate=rate,
                flush_s=SUSTAIN_FLUSH_S,
                mode=mode,
                liq_per_s=SUSTAIN_LIQ_PER_S,
                seed_rows=seed_rows,
            )
            lat = m["lat"]
            # committed rate: rows over the time from the first commit to the last; a collector that
            # keeps up commits at the offered rate with a bounded latency, one that does not shows a
            # growing latency (the p99) and a lower rate
            span_s = (m["last_ns"] - m["first_ns"]) / 1e9
            row = {
                "round": r + 1,
                "mode": mode,
                "load": load,
                "rows": m["n"],
                "rate": m["n"] / max(span_s, 1e-9) if m["n"] else 0.0,
                "p50": float(np.percentile(lat, 50)) if lat.size else float("nan"),
                "p90": float(np.percentile(lat, 90)) if lat.size else float("nan"),
                "p99": float(np.percentile(lat, 99)) if lat.size else float("nan"),
                "max": float(lat.max()) if lat.size else float("nan"),
                "read_p99": float(np.percentile(m["read_lat"], 99)) if m["read_lat"].size else float("nan"),
                "flushes": m["flushes"],
                "compactions": m["compactions"],
                "seals": m["seals"],
                "hurried": m.get("hurried", 0),
                "sealer_cpu_s": m.get("sealer_cpu_s", float("nan")),
                "parts_left": m["parts_left"],
                "stored": m["stored"],
                "cpu_us": m["cpu_us_per_row"],
                # where a flush's time goes (ms, p50/p99): the whole flush, its log appends, its fdatasyncs
                "flush_ms": _p50_p99(m["timings"][:, 0]),
                "append_ms": _p50_p99(m["timings"][:, 1]),
                "sync_ms": _p50_p99(m["timings"][:, 2]),
            }
            out.append(row)
            print(
                f"round {row['round']} {mode:<14} load {load:5.1f}  {row['rows']:>9,} rows  "
                f"{row['rate']:>10,.0f} rows/s committed  socket→committed p50 {row['p50']:7.1f} ms  "
                f"p90 {row['p90']:7.1f} ms  p99 {row['p99']:8.1f} ms  max {row['max']:8.1f} ms  "
                f"(socket→batch p99 {row['read_p99']:.1f} ms)  flushes {row['flushes']:,}  "
                f"seals {row['seals']} (hurried {row['hurried']}, sealer CPU {row['sealer_cpu_s']:.2f} s)  "
                f"compactions {row['compactions']}  parts left {row['parts_left']}  "
                f"stored {row['stored']:,}  collector CPU {row['cpu_us']:.2f} µs/row  "
                f"flush p50/p99 {row['flush_ms'][0]:.2f}/{row['flush_ms'][1]:.2f} ms "
                f"(log appends {row['append_ms'][0]:.2f}/{row['append_ms'][1]:.2f}, "
                f"fdatasync {row['sync_ms'][0]:.2f}/{row['sync_ms'][1]:.2f})",
                flush=True,
            )
    return out


def trace(rate: int = SUSTAIN_RATE, seconds: float = SUSTAIN_S, mode: str = "log") -> dict[str, Any]:
    """One sustained run of the default write path (or a ``log`` ``mode`` of :func:`sustained`, e.g.
    ``log+seal=8``) with its stages timed (:mod:`benchmarks.collect_trace`), printed with the run's
    figures, the server's pacing and CPU, and the load average."""
    from benchmarks import collect_trace

    load = os.getloadavg()[0]
    m = measure(
        n=int(rate * seconds),
        rate=rate,
        flush_s=SUSTAIN_FLUSH_S,
        mode=mode,
        liq_per_s=SUSTAIN_LIQ_PER_S,
        seed_rows=SUSTAIN_SEED_ROWS,
        trace=True,
    )
    lat = m["lat"]
    span_s = (m["last_ns"] - m["first_ns"]) / 1e9
    p50, p90, p99 = np.percentile(lat, [50, 90, 99])
    print(
        f"trace at {rate:,} msg/s for {seconds:g} s, load {load:.1f}: "
        f"{m['n'] / max(span_s, 1e-9):,.0f} rows/s committed, socket→committed p50 {p50:.1f} "
        f"p90 {p90:.1f} p99 {p99:.1f} max {lat.max():.1f} ms, "
        f"collector CPU {m['cpu_us_per_row']:.2f} µs/row\n" + collect_trace.report(m["trace"], m["server"]),
        flush=True,
    )
    return m


#: Frames per flush for :func:`flush_cpu`: a flush at 25 k, 50 k and 200 k msg/s every ~10 ms.
FLUSH_FRAMES = (250, 550, 2000)


def _flush_cpu_in_process(frames_per_flush: int, flushes: int) -> dict[str, float]:
    """CPU (this process) per flush of the collector's hot path on the sustained stream's frames (trades
    with liquidations at Binance's cap), without sockets: the batch parser's ``take`` (decode and
    columns), then the commit (admission, stamp, dedupe, log append, ``fdatasync``) into a fresh store."""
    import gc as _gc

    from perpscope.ingest import sink as sink_mod
    from perpscope.store.live_log import LiveLog, new_session
    from perpscope.venues.binance.stream_batch import BinanceBatchParser
    from perpscope.venues.binance.wire import StreamParser

    _TEMPLATES.extend(_recorded_templates())
    _LIQ_EVERY[0] = max(1, SUSTAIN_RATE // SUSTAIN_LIQ_PER_S)
    now = time.time_ns() // 1_000_000
    msgs = [_message(i, now) for i in range(frames_per_flush * flushes)]
    with tempfile.TemporaryDirectory() as d:
        lake = Lake(Path(d))
        parser = BinanceBatchParser(StreamParser())
        logs: dict[RecordType, Any] = {}
        session = new_session()
        take = commit = 0.0
        _gc.collect()
        for k in range(flushes):
            parser.frames.extend(msgs[k * frames_per_flush : (k + 1) * frames_per_flush])
            c0 = time.process_time()
            groups: dict[RecordType, list[pl.DataFrame]] = {}
            for _, rt, df in parser.take():
                groups.setdefault(rt, []).append(df)
            c1 = time.process_time()
            for rt in groups:
                if rt not in logs:
                    logs[rt] = LiveLog(lake, rt, session)
            out, _, _ = sink_mod._commit_groups(logs, groups, now)
            c2 = time.process_time()
            assert all(e is None for _, e in out.values())
            take += c1 - c0
            commit += c2 - c1
    return {"take_us": take / flushes * 1e6, "commit_us": commit / flushes * 1e6}


def flush_cpu(
    frames: tuple[int, ...] = FLUSH_FRAMES, rounds: int = ROUNDS, flushes: int = 300
) -> list[dict[str, Any]]:
    """CPU per flush (:func:`_flush_cpu_in_process`) of this checkout's collector and, with
    :data:`BASELINE_ENV`, that checkout's, alternated in fresh processes round by round."""
    base = os.environ.get(BASELINE_ENV)
    out = []
    for r in range(rounds):
        for n in frames:
            for who, src in (("this", None), *((("base", base),) if base else ())):
                load = os.getloadavg()[0]
                with _pool(src) as pool:
                    m = pool.apply(_flush_cpu_in_process, (n, flushes))
                row = {"round": r + 1, "frames": n, "who": who, "load": load, **m}
                out.append(row)
                print(
                    f"round {r + 1} {who:<4} {n:>5,} frames/flush  load {load:5.1f}  take "
                    f"{m['take_us']:8.0f} µs  commit {m['commit_us']:8.0f} µs  "
                    f"({(m['take_us'] + m['commit_us']) / n:5.2f} µs/frame)",
                    flush=True,
                )
    return out


def _p50_p99(x: np.ndarray) -> tuple[float, float]:
    return (float(np.percentile(x, 50)), float(np.percentile(x, 99))) if x.size else (float("nan"),) * 2


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "sustained":  # sustained [RATE [SECONDS [ROUNDS]]]
        # … [MODES]: comma-separated (log, append, append-nosync, rewrite; log@base with BASELINE_ENV)
        modes = tuple(sys.argv[5].split(",")) if len(sys.argv) > 5 else SUSTAIN_MODES
        sustained(*[int(a) for a in sys.argv[2:5]], modes=modes)
    elif len(sys.argv) >= 2 and sys.argv[1] == "flush":  # flush [FRAMES,… [ROUNDS]]: CPU per flush
        sizes = tuple(int(a) for a in sys.argv[2].split(",")) if len(sys.argv) > 2 else FLUSH_FRAMES
        flush_cpu(sizes, *[int(a) for a in sys.argv[3:4]])
    elif len(sys.argv) >= 2 and sys.argv[1] == "trace":  # trace [RATE [SECONDS [MODE]]]: where latency goes
        trace(*[int(a) for a in sys.argv[2:4]], *sys.argv[4:5])
    elif len(sys.argv) >= 4 and sys.argv[1] == "--serve":
        asyncio.run(_serve(*[int(a) for a in sys.argv[2:6]]))
    else:
        for r in run():
            print(r.line(), flush=True)
