"""The live writer's supervisor: drives the :class:`Sink`'s flushes and never lets a failing write pass
silently.

A failed flush keeps its rows in the sink (the next flush retries them). This loop notices each
failure (the sink's ``flush_errors`` counter grows), logs it, keeps a :class:`WriterHealth` for the
status file (``collect-status``), and when writes have failed for longer than ``writer_give_up_s``
declares the writer dead: :attr:`FlushLoop.failure` says why and how many rows were not written, and
the collector stops (``perpscope collect`` then exits non-zero). On stop the last flush is attempted
``final_flush_attempts`` times; rows still buffered after that are reported lost, never dropped quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from perpscope.ingest.sink import Sink

log = logging.getLogger(__name__)


@dataclass
class WriterHealth:
    """The store writer's state as shown in the status file.

    Attributes
    ----------
    failing_since_ms : int or None
        Wall time (ms UTC) of the first failed flush of the current run of failures; None when healthy.
    consecutive_failures : int
        Failed flushes in a row (0 when the last one wrote).
    last_error : str or None
        The last write error (record type and message).
    recovered : int
        Times writes recovered after failing.
    rows_dropped : int
        Rows lost because a flush raised before it could keep them for a retry (a batch that could not
        even be turned into a frame); any makes the collector exit non-zero.
    failure : str or None
        Set when the writer gave up or rows were lost on stop: the collector exits non-zero with it.
    """

    failing_since_ms: int | None = None
    consecutive_failures: int = 0
    last_error: str | None = None
    recovered: int = 0
    rows_dropped: int = 0
    failure: str | None = None


class FlushLoop:
    """Flush ``sink`` every ``flush_seconds`` from the previous flush's start (or when woken), watching
    each flush's outcome."""

    def __init__(
        self, sink: Sink, give_up_s: float, final_attempts: int, on_give_up: Callable[[], None]
    ) -> None:
        self.sink = sink
        self.give_up_s = give_up_s
        self.final_attempts = max(1, final_attempts)
        self.on_give_up = on_give_up
        self.health = WriterHealth()

    @property
    def failure(self) -> str | None:
        return self.health.failure

    async def run(self, stop: asyncio.Event) -> None:
        """Flush periodically until ``stop``; on a persistent failure set :attr:`failure` and stop."""
        began = time.monotonic()
        while not stop.is_set():
            self.sink.wake.clear()
            # the period runs from the previous flush's start, not its end: a flush that took longer than
            # the period is followed at once (rows then wait for one flush, not a flush and a period)
            wait = self.sink.cfg.flush_seconds - (time.monotonic() - began)
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.sink.wake.wait(), wait)
            else:
                await asyncio.sleep(0)  # one turn of the event loop: the sockets are read between flushes
            began = time.monotonic()
            await self.flush_once()
            h = self.health
            if h.failing_since_ms is not None and _now_ms() - h.failing_since_ms > self.give_up_s * 1000:
                h.failure = (
                    f"store writes failing for {(_now_ms() - h.failing_since_ms) / 1000:.0f} s "
                    f"({h.consecutive_failures} attempts), giving up with {self.sink.pending:,} rows not "
                    f"written: {h.last_error}"
                )
                log.error("live writer: %s", h.failure)
                self.on_give_up()
                return

    async def flush_once(self) -> bool:
        """One flush; True when it wrote everything it tried (or had nothing to write)."""
        before, offered = self.sink.flush_errors, self.sink.pending
        h = self.health
        error: str | None = None
        try:
            await self.sink.flush()
        except Exception as exc:  # the batch was swapped out of the sink and is gone: count it
            h.rows_dropped += offered
            error = f"{type(exc).__name__}: {exc} ({offered:,} rows dropped)"
        if error is not None or self.sink.flush_errors > before:
            h.consecutive_failures += 1
            h.last_error = error or self.sink.last_error
            if h.failing_since_ms is None:
                h.failing_since_ms = _now_ms()
            if h.consecutive_failures == 1 or h.consecutive_failures % 10 == 0:  # not a line per flush
                log.warning(
                    "live writer: flush failed (%d in a row, %d rows kept for a retry): %s",
                    h.consecutive_failures,
                    self.sink.pending,
                    h.last_error,
                )
            return False
        if h.failing_since_ms is not None:
            log.warning("live writer: writes recovered after %d failed flushes", h.consecutive_failures)
            h.recovered += 1
            h.failing_since_ms = None
            h.consecutive_failures = 0
        return True

    async def final_flush(self, retry_wait_s: float = 0.5) -> None:
        """The flush on stop, retried; rows still buffered afterwards are reported in :attr:`failure`."""
        for attempt in range(self.final_attempts):
            if await self.flush_once() and self.sink.pending == 0:
                break
            if attempt + 1 < self.final_attempts:
                await asyncio.sleep(retry_wait_s)
        msgs = []
        if self.sink.pending:
            msgs.append(
                f"{self.sink.pending:,} rows not written on stop after {self.final_attempts} attempts"
            )
        if self.health.rows_dropped:
            msgs.append(f"{self.health.rows_dropped:,} rows dropped by failed flushes")
        if msgs:
            msg = f"{'; '.join(msgs)}: {self.health.last_error}"
            self.health.failure = f"{self.health.failure}; {msg}" if self.health.failure else msg
            log.error("live writer: %s", msg)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
