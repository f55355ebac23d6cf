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

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from perpscope.core.errors import VenueError
from perpscope.ingest.gap_filler import GapFiller
from perpscope.ingest.live_feed import LiveFeed, feed_streams
from perpscope.ingest.live_limits import LiveLimits
from perpscope.ingest.sink import LiveConfig, Observer, Sink
from perpscope.ingest.stall import StallWatch
from perpscope.ingest.status_writer import LiveStatus, now_ms
from perpscope.records import CANDLES, TRADES
from perpscope.venues.http import RegionBlocked

log = logging.getLogger(__name__)

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

    async def close(self) -> None:
        """Close the open socket (the loop then sees the stop and returns)."""
        if self.socket is not None:
            await self.socket.close()

    async def run(self, stop: asyncio.Event) -> None:
        feed, vs = self.feed, self.vs
        delay = self.cfg.backoff_s
        down_since: int | None = None
        while not stop.is_set():
            url = feed.ws_url()
            assert url is not None
            wait_at_least = 0.0
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
                    self.socket = ws
                    vs.connected = True
                    try:
                        for m in feed.subscribe_messages():
                            await ws.send(m)
                        beat = feed.heartbeat()
                        if beat is not None:
                            self.gaps.spawn(_heartbeat(ws, *beat))
                        up_ms = now_ms()
                        self._watch = StallWatch(self.limits.stall, self._watched_streams(), time.monotonic())
                        watchdog = asyncio.create_task(self._watch_for_stall(ws))
                        first = True
                        try:
                            async for raw in ws:
                                if first:
                                    first = False
                                    delay = self.cfg.backoff_s
                                    if down_since is not None:
                                        self.gaps.after_reconnect(feed, down_since, up_ms)
                                        down_since = None
                                self.handle(raw)
                        finally:
                            watchdog.cancel()
                            with contextlib.suppress(asyncio.CancelledError):
                                await watchdog
                    finally:
                        self.socket = None
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
                if code in RETRY_AFTER_STATUSES:
                    asked = retry_after_s(exc.response.headers.get("Retry-After"))
                    if asked is not None:
                        wait_at_least = min(asked, self.limits.max_retry_after_s)
                        vs.last_error += f", Retry-After {asked:g} s: waiting {wait_at_least:g} s"
                log.warning("%s: %s", feed.venue, vs.last_error)
            except RegionBlocked as exc:
                vs.fatal = str(exc)
                return
            except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError, VenueError) as exc:
                vs.last_error = f"{type(exc).__name__}: {exc}"
            if stop.is_set():
                return
            vs.reconnects += 1
            for st in self.status.streams_of(feed.venue):
                st.reconnects += 1
            if down_since is None:
                # a stall began at the last delivery, not when it was noticed
                down_since = self._stall_began_ms if self._stall_began_ms is not None else now_ms()
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
        """Parse one frame; count, gap-check and buffer its rows."""
        recv_ns = time.time_ns()
        mono = time.monotonic()
        watch = self._watch
        if watch is not None:
            watch.frame(mono)
        rows = self.feed.parser.parse(raw)
        if not rows:
            return
        recv_ms = recv_ns // 1_000_000
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
                observe(rt, row, recv_ns)


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
    with contextlib.suppress(ConnectionClosed, OSError):
        while True:
            await asyncio.sleep(every_s)
            await ws.send(message)
