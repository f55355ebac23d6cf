"""One venue socket of the live collector: connect, read, watch for stalls, reconnect.

The loop connects (stream names in the URL or re-sent after every connect), hands every frame to the
venue's parser and every row to the sink and the gap filler, and on any failure reconnects with
jittered exponential backoff. Two answers change the wait: a refused handshake with ``Retry-After``
(HTTP 429 rate limit, 418 IP ban, 503) waits at least that long, so a rate-limited venue is not
hammered; HTTP 451 (region blocked) is fatal and never retried. A socket that stays open but stops
delivering (pings still answered) is closed by the :class:`~perpscope.ingest.stall.StallWatch` and
reconnected; the gap filler then fetches what was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import random
import time
from datetime import UTC, datetime
from typing import Any

import polars as pl

from perpscope.core.errors import VenueError
from perpscope.ingest.gap_filler import GapFiller
from perpscope.ingest.live_feed import LiveFeed, Row, batch_parser, feed_streams
from perpscope.ingest.live_limits import LiveLimits
from perpscope.ingest.sink import LiveConfig, Observer, Sink
from perpscope.ingest.stall import StallWatch
from perpscope.ingest.status_writer import LiveStatus, now_ms
from perpscope.ingest.ws_client import HandshakeRefused, open_socket
from perpscope.records import CANDLES, TRADES, RecordType
from perpscope.venues.http import RegionBlocked

log = logging.getLogger(__name__)

#: Frames decoded into a batch before it is drained even if more are already waiting (bounds the
#: latency a long burst adds to its first frames, and the size of one drain's work).
DRAIN_FRAMES = 2048
#: Longest a received frame waits for its batch to be drained (seconds) when no flush comes first (every
#: flush also drains the sockets before it swaps its buffers: :attr:`~perpscope.ingest.sink.Sink.drains`).
#: The batch is what live readers of the socket see (counters, stall clock, trade-id checks). A drain
#: costs ~0.25 ms of CPU besides ~1 µs per frame; 20 ms instead was tried (fewer drains at 100 k msg/s)
#: and put socket → batch p99 at 25–29 ms at 25 k and 100 k msg/s (4–7 ms at 2 ms), with no gain in
#: socket → committed p99 at 200 k msg/s (``bench_collect``, three idle rounds: 93–204 ms against
#: 123–177 ms for the code before it).
DRAIN_AFTER_S = 0.002

#: Handshake answers whose ``Retry-After`` is honoured (rate limited, IP banned, unavailable).
RETRY_AFTER_STATUSES = frozenset({418, 429, 503})


class SocketLoop:
    """The connection loop of one feed (see the module docstring)."""

    def __init__(
        self,
        feed: LiveFeed,
        sink: Sink,
        gaps: GapFiller,
        status: LiveStatus,
        cfg: LiveConfig,
        limits: LiveLimits,
        observe: Observer | None = None,
    ) -> None:
        self.feed = feed
        self.sink = sink
        self.gaps = gaps
        self.status = status
        self.vs = status.venues[feed.venue]
        self.cfg = cfg
        self.limits = limits
        self.observe = observe
        self.socket: Any = None
        self._watch: StallWatch | None = None
        self._stall_began_ms: int | None = None
        self._batch = batch_parser(feed)
        #: the batch parser's frames not yet taken (None: the feed parses frame by frame)
        self._pending = self._batch.frames if self._batch is not None else None
        self._drain_timer: asyncio.TimerHandle | None = None
        self._first = True  # no frame yet on this connection
        self._up_ms: int | None = None  # when this connection opened (ms UTC)
        self._down_since: int | None = None  # when the socket went down, until a frame arrives again

    async def close(self) -> None:
        """Close the open socket (the loop then sees the stop and returns)."""
        if self.socket is not None:
            await self.socket.close()

    async def run(self, stop: asyncio.Event) -> None:
        feed, vs = self.feed, self.vs
        delay = self.cfg.backoff_s
        while not stop.is_set():
            url = feed.ws_url()
            assert url is not None
            wait_at_least = 0.0
            try:
                await feed.prepare()
                self._first, self._up_ms = True, None
                ws = await open_socket(
                    url,
                    self.handle,
                    open_timeout_s=self.cfg.open_timeout_s,
                    ping_interval_s=self.cfg.ping_interval_s,
                    max_size=2**22,
                )
                self.socket = ws
                vs.connected = True
                try:
                    for m in feed.subscribe_messages():
                        await ws.send(m)
                    beat = feed.heartbeat()
                    if beat is not None:
                        self.gaps.spawn(_heartbeat(ws, *beat))
                    if self._up_ms is None:
                        self._up_ms = now_ms()
                    self._watch = StallWatch(self.limits.stall, self._watched_streams(), time.monotonic())
                    watchdog = asyncio.create_task(self._watch_for_stall(ws))
                    try:
                        await _closed_or_stopped(ws, stop)
                    finally:
                        self.drain()  # every frame received is buffered before the loop goes on
                        watchdog.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await watchdog
                finally:
                    await ws.close()
                    self.socket = None
                    vs.connected = False
                if not self._first:
                    delay = self.cfg.backoff_s  # the connection delivered: the next retry starts afresh
                if self._stall_began_ms is None and not stop.is_set():  # a stall says so itself
                    vs.last_error = "connection closed by the venue"
            except HandshakeRefused as exc:
                code = exc.status
                if code == 451:
                    vs.fatal = (
                        f"{feed.venue}: the websocket answered HTTP 451 — this region is blocked; "
                        "not retrying (the public archive: perpscope download)"
                    )
                    return
                vs.last_error = f"handshake refused: HTTP {code}"
                if code in RETRY_AFTER_STATUSES:
                    asked = retry_after_s(exc.retry_after)
                    if asked is not None:
                        wait_at_least = min(asked, self.limits.max_retry_after_s)
                        vs.last_error += f", Retry-After {asked:g} s: waiting {wait_at_least:g} s"
                log.warning("%s: %s", feed.venue, vs.last_error)
            except RegionBlocked as exc:
                vs.fatal = str(exc)
                return
            except (OSError, TimeoutError, VenueError) as exc:
                vs.last_error = f"{type(exc).__name__}: {exc}"
            if stop.is_set():
                return
            vs.reconnects += 1
            for st in self.status.streams_of(feed.venue):
                st.reconnects += 1
            if self._down_since is None:
                # a stall began at the last delivery, not when it was noticed
                self._down_since = self._stall_began_ms if self._stall_began_ms is not None else now_ms()
            self._stall_began_ms = None
            # jitter spreads reconnects, but never below what the venue asked for
            pause = max(delay * random.uniform(0.5, 1.5), wait_at_least * random.uniform(1.0, 1.1))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
            delay = min(delay * 2, self.cfg.backoff_max_s)

    def _watched_streams(self) -> set[str]:
        """The streams this socket carries: those asked of the feed, and those seen on it so far."""
        seen = {s.stream for s in self.status.streams_of(self.feed.venue)}
        polled = {p.stream for p in self.feed.polls()}
        return (set(feed_streams(self.feed)) | seen) - polled

    async def _watch_for_stall(self, ws: Any) -> None:
        """Close ``ws`` when a stream it carries has been silent too long (the loop then reconnects)."""
        watch = self._watch
        assert watch is not None
        while True:
            await asyncio.sleep(self.limits.stall.check_every_s)
            now = time.monotonic()
            why = watch.overdue(now)
            if why is None:
                continue
            self.status.stalls[self.feed.venue] += 1
            self.vs.last_error = f"stalled socket reconnected: {why}"
            self._stall_began_ms = now_ms() - int((now - watch.last_delivery()) * 1000)
            log.warning("%s: %s", self.feed.venue, self.vs.last_error)
            await ws.close()
            return

    def handle(self, raw: str | bytes) -> None:
        """Take one frame. A feed with a batch parser keeps it in the parser's frames, decoded together
        when they are drained (:meth:`drain`) :data:`DRAIN_AFTER_S` after the first, or at
        :data:`DRAIN_FRAMES` (one list append per frame on the socket's path); other feeds' frames are
        parsed and buffered one by one."""
        pending = self._pending
        if pending is None:
            if self._first:
                self._first_frame()
            mono = time.monotonic()
            if self._watch is not None:
                self._watch.frame(mono)
            self._rows(self.feed.parser.parse(raw), time.time_ns(), mono)
            return
        pending.append(raw)
        n = len(pending)
        if n == 1:
            if self._first:
                self._first_frame()
            if self._drain_timer is None:
                self._drain_timer = asyncio.get_running_loop().call_later(DRAIN_AFTER_S, self.drain)
        elif n >= DRAIN_FRAMES:
            self.drain()

    def _first_frame(self) -> None:
        """The connection delivers: an outage that ended with it is listed (liquidations have no REST)."""
        self._first = False
        if self._down_since is not None:
            up = self._up_ms if self._up_ms is not None else now_ms()
            self.gaps.after_reconnect(self.feed, self._down_since, up)
            self._down_since = None

    def drain(self) -> None:
        """Account and buffer what the frames decoded since the last drain held: per batch, not per row
        (counters, stall clock, trade-id gap check over numpy arrays, one frame per record to the sink)."""
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        if not self._pending or self._batch is None:
            return
        recv_ns, mono = time.time_ns(), time.monotonic()
        items = self._batch.take()
        if self._watch is not None:
            self._watch.frame(mono)
        rows: list[Row] = []
        for item in items:
            if isinstance(item[2], pl.DataFrame):
                if rows:
                    self._rows(rows, recv_ns, mono)
                    rows = []
                self._frame(item[0], item[1], item[2], recv_ns, mono)
            else:
                rows.append(item)
        if rows:
            self._rows(rows, recv_ns, mono)

    def _frame(self, stream: str, rt: RecordType, df: pl.DataFrame, recv_ns: int, mono: float) -> None:
        """Count, gap-check and buffer a frame of rows of one stream."""
        if not df.height:
            return
        recv_ms = recv_ns // 1_000_000
        st = self.status.stream(self.feed.venue, stream)
        st.messages += df.height
        st.rows += df.height
        st.last_recv_ms = recv_ms
        if self._watch is not None:
            self._watch.row(stream, mono)
        ts = df.get_column("ts_ms")
        top = ts.max()
        if isinstance(top, int) and (st.last_event_ms is None or top > st.last_event_ms):
            st.last_event_ms = top
        st.lag_ms = recv_ms - int(ts[-1])
        if rt is TRADES:
            syms = df.get_column("symbol")
            if not syms.null_count() and syms.min() == syms.max():  # one symbol (n_unique hashes each row)
                self.gaps.check_trade_ids(self.feed, st, str(syms[0]), df.get_column("trade_id").to_numpy())
            else:
                for (sym,), part in df.partition_by("symbol", as_dict=True, maintain_order=True).items():
                    self.gaps.check_trade_ids(self.feed, st, str(sym), part.get_column("trade_id").to_numpy())
        self.sink.add_frame(rt, df)
        if self.observe is not None:
            self.observe(rt, ts, recv_ns)

    def _rows(self, rows: list[Row], recv_ns: int, mono: float) -> None:
        """Count, gap-check and buffer parsed rows one by one (feeds without a batch parser, and the
        rarer events of those with one)."""
        if not rows:
            return
        recv_ms = recv_ns // 1_000_000
        watch = self._watch
        sink_add = self.sink.add
        observe = self.observe
        venue = self.feed.venue
        for stream, rt, row in rows:
            st = self.status.stream(venue, stream)
            st.messages += 1
            st.rows += 1
            st.last_recv_ms = recv_ms
            if watch is not None:
                watch.row(stream, mono)
            ts = row.ts_ms
            if st.last_event_ms is None or ts > st.last_event_ms:
                st.last_event_ms = ts
            st.lag_ms = recv_ms - ts
            if rt is TRADES:
                self.gaps.check_trade(self.feed, st, row)
            elif rt is CANDLES:
                self.gaps.check_kline(self.feed, st, row)
            sink_add(rt, row)
            if observe is not None:
                observe(rt, pl.Series("ts_ms", [ts], dtype=pl.Int64), recv_ns)


def retry_after_s(value: str | None) -> float | None:
    """Seconds asked by a ``Retry-After`` header: delay-seconds or an HTTP date (RFC 9110 §10.2.3);
    None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def _heartbeat(ws: Any, every_s: float, message: str) -> None:
    """Send the venue's application-level ping every ``every_s`` until the connection closes."""
    with contextlib.suppress(OSError):
        while True:
            await asyncio.sleep(every_s)
            await ws.send(message)


async def _closed_or_stopped(ws: Any, stop: asyncio.Event) -> None:
    """Until ``ws`` closes or ``stop`` is set. The collector's stop does not rest on this task's
    cancellation alone: a cancellation that lands while the client connects can be absorbed by it, and a
    venue that holds the connection open would then keep the task (and the stop) waiting for ever."""
    closed = asyncio.ensure_future(ws.wait_closed())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({closed, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for f in (closed, stopping):
            f.cancel()
