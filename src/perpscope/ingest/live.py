"""Live capture: websocket streams and REST polls of several venues, batched into the store.

One asyncio process runs, per venue socket, a :class:`~perpscope.ingest.socket_loop.SocketLoop`
(connect → read → on any failure or stall reconnect), a poller per polled value (e.g. open interest), a
:class:`~perpscope.ingest.gap_filler.GapFiller` that fetches what a socket missed, one
:class:`Sink` for all venues (rows batched per record type, written when
``max_batch`` rows wait or every ``flush_seconds``, each flush committed by one append and one
``fdatasync`` to the store's write-ahead log — :mod:`perpscope.store.live_log` — whose segments are
sealed into part files and folded into the month files by worker threads) driven by a
:class:`~perpscope.ingest.flush_loop.FlushLoop` that watches every write, and a
:class:`~perpscope.ingest.status_writer.StatusWriter`. :class:`Collector` wires them together.

Guarantees
----------
- **No duplicates.** Every store write is idempotent on the record's natural key, so messages replayed
  after a reconnect, duplicated or out of order collapse to one row.
- **Clean stop loses nothing received.** On SIGINT/SIGTERM (or :meth:`Collector.stop`) the sockets are
  closed, then every buffered row is written before the process exits.
- **Never dies silently.** A failed write keeps its rows and is retried at the next flush; it is logged
  and shown in the status (``writer``). Writes failing for ``writer_give_up_s``, or rows still unwritten
  after the last attempts on stop, set :attr:`Collector.failure` (``perpscope collect`` exits 1).
- **kill -9 loses at most the unflushed batch**: rows received in the last ``flush_seconds`` plus the
  duration of a write in progress (a flush starts at the latest ``flush_seconds`` after the previous one
  began; with the default 1 s and a commit of under a millisecond, about 1 s of data). A torn batch
  at the log's end is ignored by readers and cut off when the next collector (or ``perpscope store
  compact``) seals the killed collector's log; sealing writes whole part files and a compaction swaps a
  month file and its parts in one commit, so the store is never corrupted and never holds half a part.
- **Stalls.** A socket left open without data (pings still answered) is reconnected once a stream it
  carries has been silent for N of its normal intervals (:mod:`perpscope.ingest.stall`).
- **Gaps.** After a reconnect, a stall, or when trade ids jump, missing aggregated trades are fetched by
  id and missing closed klines by time over REST; on start the last stored trade id and bar are read
  from the store, so what was traded while no collector ran is fetched too. Liquidation streams have no
  REST history, so their outage windows (including a downtime between two runs) are listed unfilled.
- **Rate limits.** A websocket handshake refused with ``Retry-After`` is retried no sooner than asked.

Status: ``<data_dir>/_state/status.json`` every ``status_seconds`` (see
:mod:`perpscope.ingest.status_writer`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from perpscope.ingest.flush_loop import FlushLoop
from perpscope.ingest.gap_filler import GapFiller
from perpscope.ingest.live_feed import LiveFeed
from perpscope.ingest.live_limits import LiveLimits
from perpscope.ingest.poller import poll
from perpscope.ingest.sink import FlushObserver, LiveConfig, Observer, Sink, StreamStatus, VenueStatus
from perpscope.ingest.socket_loop import SocketLoop
from perpscope.ingest.status_writer import LiveStatus, PreviousRun, StatusWriter, status_path
from perpscope.store import Lake
from perpscope.store.live_log import seal_orphans


class Collector:
    """Run live feeds into ``lake`` until stopped; see the module docstring.

    Parameters
    ----------
    feeds : sequence of LiveFeed
        One per venue socket.
    lake : Lake
    data_dir : Path
        Where ``_state/status.json`` goes.
    cfg : LiveConfig
        Batching, status period, reconnect backoff.
    limits : LiveLimits, optional
        Stall detection, ``Retry-After`` cap, when a failing writer gives up, restart look-back.
    observe : callable, optional
        Called as ``observe(record_type, ts_ms, recv_ns)`` for the rows buffered at once (a batch, or
        one row): their event times (ms, an Int64 series) and when they were received (benchmarks).
    on_flush : callable, optional
        Called after each write with the frames written (per record) and the completion time (ns).
    """

    def __init__(
        self,
        feeds: Sequence[LiveFeed],
        lake: Lake,
        data_dir: Path,
        cfg: LiveConfig | None = None,
        observe: Observer | None = None,
        on_flush: FlushObserver | None = None,
        limits: LiveLimits | None = None,
    ) -> None:
        self.feeds = list(feeds)
        self.lake = lake
        self.data_dir = Path(data_dir)
        self.cfg = cfg or LiveConfig()
        self.limits = limits or LiveLimits()
        self.stop_event = asyncio.Event()
        self.sink = Sink(lake, self.cfg, on_flush)
        self.status = LiveStatus(self.feeds, PreviousRun.read(self.data_dir))
        self.writer = FlushLoop(
            self.sink, self.limits.writer_give_up_s, self.limits.final_flush_attempts, self.stop
        )
        self.gaps = GapFiller(self.sink, self.status, self.limits.max_trade_fill_ids)
        self.sockets = [
            SocketLoop(f, self.sink, self.gaps, self.status, self.cfg, self.limits, observe)
            for f in self.feeds
            if f.ws_url() is not None
        ]
        # a flush first takes what the sockets received (their frames wait for one flush, not also for a
        # drain timer)
        self.sink.drains = [s.drain for s in self.sockets]
        self.status_writer = StatusWriter(
            self.status,
            self.feeds,
            self.sink,
            self.writer.health,
            self.cfg,
            self.data_dir,
            self.stop_event.is_set,
        )

    # -- what the parts hold -----------------------------------------------------------------------
    @property
    def streams(self) -> dict[tuple[str, str], StreamStatus]:
        return self.status.streams

    @property
    def venues(self) -> dict[str, VenueStatus]:
        return self.status.venues

    @property
    def failure(self) -> str | None:
        """Why the run ended badly (the writer gave up, rows were lost on stop); None when it did not."""
        return self.writer.failure

    # -- control -----------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the collector to stop: sockets close, buffered rows are written, :meth:`run` returns."""
        self.stop_event.set()
        for s in self.sockets:
            self.gaps.spawn(s.close())

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)

    async def run(self) -> None:
        """Collect until :meth:`stop` (or a signal, with :meth:`install_signal_handlers`)."""
        switch = sys.getswitchinterval()
        if self.cfg.gil_switch_s is not None:  # the flush thread gets the GIL back sooner (sink.GIL_SWITCH_S)
            sys.setswitchinterval(self.cfg.gil_switch_s)
        try:
            await self._run()
        finally:
            sys.setswitchinterval(switch)

    async def _run(self) -> None:
        if self.sink.logs is not None:  # logs of collectors that were killed: their torn tails cut, sealed
            await asyncio.to_thread(seal_orphans, self.lake)
            await self.sink.start_sealer()  # its imports run now, not beside the capture at the first seal
        await asyncio.to_thread(
            self.gaps.resume_from_store, self.lake, self.feeds, self.limits.restart_lookback_ms
        )
        writer = asyncio.create_task(self.writer.run(self.stop_event), name="writer")
        tasks: list[asyncio.Task[Any]] = [
            asyncio.create_task(self.status_writer.run(self.stop_event), name="status")
        ]
        for s in self.sockets:
            tasks.append(asyncio.create_task(s.run(self.stop_event), name=f"ws-{s.feed.venue}"))
        for feed in self.feeds:
            for p in feed.polls():
                tasks.append(
                    asyncio.create_task(
                        poll(feed, p, self.sink, self.status, self.cfg, self.stop_event),
                        name=f"poll-{feed.venue}-{p.stream}",
                    )
                )
        try:
            await self.stop_event.wait()
        finally:
            self.stop_event.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.gaps.cancel()
            # the writer is never cancelled: a write cut short would drop the rows it had swapped out
            self.sink.wake.set()
            await asyncio.gather(writer, return_exceptions=True)
            await self.writer.final_flush()  # everything received is written (or reported) before we return
            await self.sink.settle()
            with contextlib.suppress(OSError):
                self.status_writer.write()
            for feed in self.feeds:
                with contextlib.suppress(Exception):
                    await feed.aclose()

    # -- status ------------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The status as plain data (what ``status.json`` holds)."""
        return self.status_writer.snapshot()

    def write_status(self) -> None:
        self.status_writer.write()


__all__ = ["Collector", "LiveConfig", "LiveFeed", "LiveLimits", "Sink", "StreamStatus", "status_path"]
