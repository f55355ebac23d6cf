"""Live capture: websocket streams and REST polls of several venues, batched into the store.

One asyncio process runs, per venue, a connection loop (connect → read → on any failure reconnect with
jittered exponential backoff; the stream names are in the URL or re-sent after every connect), a poller
per polled value (e.g. open interest) and, for all venues, one :class:`Sink` that batches rows per record
type and writes them with :meth:`Lake.write` when ``max_batch`` rows are waiting or every ``flush_seconds``.

Guarantees
----------
- **No duplicates.** Every store write is idempotent on the record's natural key, so messages replayed
  after a reconnect, duplicated or out of order collapse to one row.
- **Clean stop loses nothing received.** On SIGINT/SIGTERM (or :meth:`Collector.stop`) the sockets are
  closed, then every buffered row is written before the process exits.
- **kill -9 loses at most the unflushed batch**: rows received in the last ``flush_seconds`` plus the
  duration of a write in progress (a flush starts at the latest ``flush_seconds`` after the previous one
  began; with the default 1 s and writes of tens of ms, about 1 s of data). Store files are replaced
  atomically, so the store is never corrupted.
- **Gaps.** After a reconnect, or when trade ids jump, missing aggregated trades are fetched by id and
  missing closed klines by time over REST; liquidation streams have no REST history, so their outage
  window is reported as an unfilled gap in the status.

Status: ``<data_dir>/_state/status.json`` every ``status_seconds`` — per venue/stream messages, messages/s,
last event time, lag (receipt − event time), reconnects, gaps filled and unfilled, rows written.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import polars as pl
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from perpscope.core.errors import VenueError
from perpscope.ingest.sink import FlushObserver, LiveConfig, Observer, Sink, StreamStatus, VenueStatus
from perpscope.ingest.state import state_dir, write_json_atomic
from perpscope.records import CANDLES, LIQUIDATIONS, TRADES, RecordType
from perpscope.store import Lake
from perpscope.venues.http import RegionBlocked

Row = tuple[str, RecordType, Any]
#: Missing trade-id ranges queued per symbol; beyond this they are reported unfilled, not fetched.
MAX_QUEUED_GAPS = 100


class LiveParser(Protocol):
    malformed: int
    unknown: int

    def parse(self, raw: str | bytes) -> list[Row]: ...


class PollLike(Protocol):
    @property
    def stream(self) -> str: ...

    @property
    def record(self) -> RecordType: ...

    @property
    def every_s(self) -> float: ...

    @property
    def fetch(self) -> Callable[[], Awaitable[pl.DataFrame]]: ...


class LiveFeed(Protocol):
    """A venue's live side (see :class:`perpscope.venues.binance.live.BinanceLive`)."""

    venue: str

    @property
    def parser(self) -> LiveParser: ...

    def ws_url(self) -> str | None: ...

    def subscribe_messages(self) -> list[str]: ...

    def heartbeat(self) -> tuple[float, str] | None: ...

    def polls(self) -> Sequence[PollLike]: ...

    async def prepare(self) -> None: ...

    async def fill_trades(self, symbol: str, from_id: int, to_id: int) -> pl.DataFrame: ...

    async def fill_klines(self, symbol: str, start_ms: int, end_ms: int) -> pl.DataFrame: ...

    async def aclose(self) -> None: ...


class Collector:
    """Run live feeds into ``lake`` until stopped; see the module docstring.

    Parameters
    ----------
    feeds : sequence of LiveFeed
        One per venue.
    lake : Lake
    data_dir : Path
        Where ``_state/status.json`` goes.
    cfg : LiveConfig
    observe : callable, optional
        Called as ``observe(record_type, row, recv_ns)`` for every parsed row (benchmarks, tests).
    on_flush : callable, optional
        Called after each write with the rows written and the completion time (ns).
    """

    def __init__(
        self,
        feeds: Sequence[LiveFeed],
        lake: Lake,
        data_dir: Path,
        cfg: LiveConfig | None = None,
        observe: Observer | None = None,
        on_flush: FlushObserver | None = None,
    ) -> None:
        self.feeds = list(feeds)
        self.lake = lake
        self.data_dir = Path(data_dir)
        self.cfg = cfg or LiveConfig()
        self.sink = Sink(lake, self.cfg, on_flush)
        self.observe = observe
        self.stop_event = asyncio.Event()
        self.started_ms = _now_ms()
        self.venues = {f.venue: VenueStatus(f.venue) for f in self.feeds}
        for f in self.feeds:  # record which liquidation sampling each venue applies (status.json)
            caps = getattr(f, "capabilities", None)
            if caps is not None:
                vs = self.venues[f.venue]
                vs.liquidations_complete = caps.liquidations_complete
                vs.liquidation_sampling = caps.liquidation_note
        self.streams: dict[tuple[str, str], StreamStatus] = {}
        self._sockets: set[Any] = set()
        self._fills: set[asyncio.Task[None]] = set()
        self._last_trade: dict[tuple[str, str], int] = {}
        self._last_kline: dict[tuple[str, str, int], int] = {}
        self._trade_gaps: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self._trade_fillers: set[tuple[str, str]] = set()

    # -- control -----------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the collector to stop: sockets close, buffered rows are written, :meth:`run` returns."""
        self.stop_event.set()
        for ws in list(self._sockets):
            self._spawn_fill(ws.close())

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)

    async def run(self) -> None:
        """Collect until :meth:`stop` (or a signal, with :meth:`install_signal_handlers`)."""
        tasks = [asyncio.create_task(self.sink.run(self.stop_event), name="sink")]
        tasks.append(asyncio.create_task(self._status_loop(), name="status"))
        for feed in self.feeds:
            if feed.ws_url() is not None:
                tasks.append(asyncio.create_task(self._connection(feed), name=f"ws-{feed.venue}"))
            for p in feed.polls():
                tasks.append(asyncio.create_task(self._poll(feed, p), name=f"poll-{feed.venue}-{p.stream}"))
        try:
            await self.stop_event.wait()
        finally:
            self.stop_event.set()
            for t in tasks[1:]:
                t.cancel()
            for t in list(self._fills):
                t.cancel()
            await asyncio.gather(*tasks[1:], *self._fills, return_exceptions=True)
            # the sink is never cancelled: a write cut short would drop the rows it had swapped out
            self.sink.wake.set()
            await asyncio.gather(tasks[0], return_exceptions=True)
            await self.sink.flush()  # everything received is written before we return
            self.write_status()
            for feed in self.feeds:
                with contextlib.suppress(Exception):
                    await feed.aclose()

    # -- websocket ---------------------------------------------------------------------------------
    async def _connection(self, feed: LiveFeed) -> None:
        vs = self.venues[feed.venue]
        delay = self.cfg.backoff_s
        down_since: int | None = None
        while not self.stop_event.is_set():
            url = feed.ws_url()
            assert url is not None
            try:
                await feed.prepare()
                async with connect(
                    url,
                    ping_interval=self.cfg.ping_interval_s,
                    open_timeout=self.cfg.open_timeout_s,
                    close_timeout=1,
                    max_size=2**22,
                    max_queue=1024,
                    compression=None,
                    proxy=None,
                ) as ws:
                    self._sockets.add(ws)
                    vs.connected = True
                    for m in feed.subscribe_messages():
                        await ws.send(m)
                    beat = feed.heartbeat()
                    if beat is not None:
                        self._spawn_fill(_heartbeat(ws, *beat))
                    reconnected_at = _now_ms()
                    first = True
                    try:
                        async for raw in ws:
                            if first:
                                first = False
                                delay = self.cfg.backoff_s
                                if down_since is not None:
                                    self._after_reconnect(feed, down_since, reconnected_at)
                                    down_since = None
                            self._handle(feed, raw)
                    finally:
                        self._sockets.discard(ws)
                        vs.connected = False
            except InvalidStatus as exc:
                code = exc.response.status_code
                if code == 451:
                    vs.fatal = (
                        f"{feed.venue}: the websocket answered HTTP 451 — this region is blocked; "
                        "not retrying (the public archive: perpscope download)"
                    )
                    return
                vs.last_error = f"handshake refused: HTTP {code}"
            except RegionBlocked as exc:
                vs.fatal = str(exc)
                return
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError, VenueError) as exc:
                vs.last_error = f"{type(exc).__name__}: {exc}"
            if self.stop_event.is_set():
                return
            vs.reconnects += 1
            for st in self._streams_of(feed.venue):
                st.reconnects += 1
            if down_since is None:
                down_since = _now_ms()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, self.cfg.backoff_max_s)

    def _streams_of(self, venue: str) -> list[StreamStatus]:
        return [s for (v, _), s in self.streams.items() if v == venue]

    def _status(self, venue: str, stream: str) -> StreamStatus:
        st = self.streams.get((venue, stream))
        if st is None:
            st = self.streams[(venue, stream)] = StreamStatus(venue, stream)
        return st

    def _handle(self, feed: LiveFeed, raw: str | bytes) -> None:
        recv_ns = time.time_ns()
        rows = feed.parser.parse(raw)
        if not rows:
            return
        recv_ms = recv_ns // 1_000_000
        sink_add = self.sink.add
        observe = self.observe
        for stream, rt, row in rows:
            st = self._status(feed.venue, stream)
            st.messages += 1
            st.rows += 1
            st.last_recv_ms = recv_ms
            ts = row.ts_ms
            if st.last_event_ms is None or ts > st.last_event_ms:
                st.last_event_ms = ts
            st.lag_ms = recv_ms - ts
            if rt is TRADES:
                self._check_trade(feed, st, row)
            elif rt is CANDLES:
                self._check_kline(feed, st, row)
            sink_add(rt, row)
            if observe is not None:
                observe(rt, row, recv_ns)

    def _check_trade(self, feed: LiveFeed, st: StreamStatus, row: Any) -> None:
        key = (feed.venue, row.symbol)
        last = self._last_trade.get(key)
        tid = row.trade_id
        if last is not None:
            if tid <= last:
                st.duplicates += 1
                return
            if tid > last + 1:
                self._queue_trade_gap(feed, st, row.symbol, last + 1, tid - 1)
        self._last_trade[key] = tid

    def _queue_trade_gap(self, feed: LiveFeed, st: StreamStatus, symbol: str, a: int, b: int) -> None:
        """Queue a missing id range; one filler per symbol works through the queue (no request storm)."""
        key = (feed.venue, symbol)
        queue = self._trade_gaps.setdefault(key, [])
        if queue and a <= queue[-1][1] + 1:
            queue[-1] = (queue[-1][0], max(b, queue[-1][1]))
        elif len(queue) >= MAX_QUEUED_GAPS:
            st.gaps_unfilled.append((a, b))
            del st.gaps_unfilled[:-50]
            return
        else:
            queue.append((a, b))
        if key not in self._trade_fillers:
            self._trade_fillers.add(key)
            self._spawn_fill(self._drain_trade_gaps(feed, st, symbol))

    async def _drain_trade_gaps(self, feed: LiveFeed, st: StreamStatus, symbol: str) -> None:
        key = (feed.venue, symbol)
        try:
            while self._trade_gaps.get(key):
                a, b = self._trade_gaps[key].pop(0)
                await self._fill_trades(feed, st, symbol, a, b)
        finally:
            self._trade_fillers.discard(key)

    def _check_kline(self, feed: LiveFeed, st: StreamStatus, row: Any) -> None:
        """A closed bar later than the next expected one (after a reconnect or a lost frame): fill by REST."""
        key = (feed.venue, row.symbol, row.interval_ms)
        last = self._last_kline.get(key)
        if last is not None and row.ts_ms > last + row.interval_ms:
            self._spawn_fill(self._fill_klines(feed, st, row.symbol, last + row.interval_ms, row.ts_ms))
        if last is None or row.ts_ms > last:
            self._last_kline[key] = row.ts_ms

    def _after_reconnect(self, feed: LiveFeed, down_ms: int, up_ms: int) -> None:
        for (venue, stream), st in self.streams.items():
            if venue != feed.venue:
                continue
            if stream == "liquidations":
                st.gaps_unfilled.append((down_ms, up_ms))  # no REST history of liquidations
                del st.gaps_unfilled[:-50]

    def _spawn_fill(self, coro: Awaitable[None]) -> None:
        t = asyncio.ensure_future(coro)
        self._fills.add(t)
        t.add_done_callback(self._fills.discard)

    async def _fill_trades(self, feed: LiveFeed, st: StreamStatus, symbol: str, a: int, b: int) -> None:
        try:
            df = await feed.fill_trades(symbol, a, b)
        except (VenueError, OSError, ValueError) as exc:
            st.gaps_unfilled.append((a, b))
            self.venues[feed.venue].last_error = f"trade gap {a}..{b} not filled: {exc}"
            return
        self.sink.add_frame(TRADES, df)
        st.gaps_filled += 1
        st.rows_filled += df.height

    async def _fill_klines(self, feed: LiveFeed, st: StreamStatus, symbol: str, start: int, end: int) -> None:
        if end <= start:
            return
        try:
            df = await feed.fill_klines(symbol, start, end)
        except (VenueError, OSError, ValueError) as exc:
            st.gaps_unfilled.append((start, end))
            self.venues[feed.venue].last_error = f"kline gap not filled: {exc}"
            return
        self.sink.add_frame(CANDLES, df)
        st.gaps_filled += 1
        st.rows_filled += df.height

    # -- polls -------------------------------------------------------------------------------------
    async def _poll(self, feed: LiveFeed, p: PollLike) -> None:
        st = self._status(feed.venue, p.stream)
        delay = self.cfg.backoff_s
        while not self.stop_event.is_set():
            wait = p.every_s
            try:
                df = await p.fetch()
            except RegionBlocked as exc:
                self.venues[feed.venue].fatal = str(exc)
                return
            except (VenueError, OSError, ValueError) as exc:
                self.venues[feed.venue].last_error = f"{p.stream}: {exc}"
                wait = min(delay, p.every_s)
                delay = min(delay * 2, self.cfg.backoff_max_s)
            else:
                delay = self.cfg.backoff_s
                self.sink.add_frame(p.record, df)
                now = _now_ms()
                st.messages += 1
                st.rows += df.height
                st.last_recv_ms = now
                if df.height:
                    ts = int(df.get_column("ts_ms").dt.epoch("ms").max())  # type: ignore[arg-type]
                    st.last_event_ms = ts
                    st.lag_ms = now - ts
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), wait)

    # -- status ------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The status as plain data (what ``status.json`` holds)."""
        now = time.monotonic()
        streams = []
        for st in self.streams.values():
            t0, n0 = st._window
            if t0 and now > t0:
                st.msgs_per_s = (st.messages - n0) / (now - t0)
            st._window = (now, st.messages)
            d = asdict(st)
            d.pop("_window")
            rec = {"liquidations": LIQUIDATIONS.name, "trades": TRADES.name, "klines": CANDLES.name}.get(
                st.stream
            )
            d["rows_written"] = self.sink.written.get((st.venue, rec or st.stream), 0)
            streams.append(d)
        for vs in self.venues.values():  # a venue may run several feeds (OKX: public + business socket)
            vs.malformed = sum(f.parser.malformed for f in self.feeds if f.venue == vs.venue)
            vs.unknown = sum(f.parser.unknown for f in self.feeds if f.venue == vs.venue)
        return {
            "pid": _pid(),
            "started_ms": self.started_ms,
            "updated_ms": _now_ms(),
            "flush_seconds": self.cfg.flush_seconds,
            "pending_rows": self.sink.pending,
            "flushes": self.sink.flushes,
            "flush_errors": self.sink.flush_errors,
            "written": {f"{v}/{r}": n for (v, r), n in sorted(self.sink.written.items())},
            "venues": [asdict(v) for v in self.venues.values()],
            "streams": streams,
            "stopped": self.stop_event.is_set(),
        }

    def write_status(self) -> None:
        write_json_atomic(status_path(self.data_dir), self.snapshot())

    async def _status_loop(self) -> None:
        while not self.stop_event.is_set():
            self.write_status()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), self.cfg.status_seconds)


async def _heartbeat(ws: Any, every_s: float, message: str) -> None:
    """Send the venue's application-level ping every ``every_s`` until the connection closes."""
    with contextlib.suppress(ConnectionClosed, OSError):
        while True:
            await asyncio.sleep(every_s)
            await ws.send(message)


def status_path(data_dir: Path) -> Path:
    return state_dir(data_dir) / "status.json"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _pid() -> int:
    import os

    return os.getpid()


__all__ = ["Collector", "LiveConfig", "LiveFeed", "Sink", "StreamStatus", "status_path"]
