"""The live collector's status: the counters every part updates (:class:`LiveStatus`) and the writer
of ``<data_dir>/_state/status.json`` (:class:`StatusWriter`), which ``perpscope collect-status`` reads.

The file holds, per venue and stream, messages, messages per second, last event time, lag (receipt −
event time), reconnects, stalls, gaps filled and unfilled, rows written; per venue the last error and a
fatal one; the store writer's health (failing since, consecutive failures, last error, the failure
that stops the collector); and, after a restart, how long the previous collector had been gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from perpscope.ingest.flush_loop import WriterHealth
from perpscope.ingest.live_feed import LiveFeed
from perpscope.ingest.sink import LiveConfig, Sink, StreamStatus, VenueStatus
from perpscope.ingest.state import read_json, state_dir, write_json_atomic
from perpscope.records import CANDLES, LIQUIDATIONS, TRADES

log = logging.getLogger(__name__)

#: Live stream name → the record it is written as (for ``rows_written``).
STREAM_RECORD = {"liquidations": LIQUIDATIONS.name, "trades": TRADES.name, "klines": CANDLES.name}


def status_path(data_dir: Path) -> Path:
    return state_dir(data_dir) / "status.json"


@dataclass(frozen=True)
class PreviousRun:
    """What the last collector on this data directory wrote before it went away.

    Attributes
    ----------
    last_alive_ms : int
        Its last status update (ms UTC): data after this was not captured by it.
    stopped_cleanly : bool
        Whether it stopped through a signal (False: killed, crashed or lost power).
    """

    last_alive_ms: int
    stopped_cleanly: bool

    @classmethod
    def read(cls, data_dir: Path) -> PreviousRun | None:
        snap = read_json(status_path(data_dir))
        if not isinstance(snap, dict) or not isinstance(snap.get("updated_ms"), int):
            return None
        return cls(snap["updated_ms"], bool(snap.get("stopped")))


class LiveStatus:
    """Counters of one collector run, shared by its socket loops, gap filler, polls and writer.

    Attributes
    ----------
    venues : dict venue → VenueStatus
    streams : dict (venue, stream) → StreamStatus
    stalls : dict venue → int
        Stalled sockets reconnected.
    previous : PreviousRun or None
        The collector that ran on this data directory before this one.
    """

    def __init__(self, feeds: Sequence[LiveFeed], previous: PreviousRun | None) -> None:
        self.started_ms = now_ms()
        self.previous = previous
        self.venues = {f.venue: VenueStatus(f.venue) for f in feeds}
        for f in feeds:  # record which liquidation sampling each venue applies (status.json)
            caps = getattr(f, "capabilities", None)
            if caps is not None:
                vs = self.venues[f.venue]
                vs.liquidations_complete = caps.liquidations_complete
                vs.liquidation_sampling = caps.liquidation_note
        self.streams: dict[tuple[str, str], StreamStatus] = {}
        self.stalls = {f.venue: 0 for f in feeds}

    def stream(self, venue: str, stream: str) -> StreamStatus:
        """The counters of ``venue``/``stream``, created on first use."""
        st = self.streams.get((venue, stream))
        if st is None:
            st = self.streams[(venue, stream)] = StreamStatus(venue, stream)
        return st

    def streams_of(self, venue: str) -> list[StreamStatus]:
        return [s for (v, _), s in self.streams.items() if v == venue]

    def unfilled(self, st: StreamStatus, a: int, b: int) -> None:
        """List ``[a, b]`` (ids or ms) as an unfilled gap of ``st`` (the last 50 are kept)."""
        st.gaps_unfilled.append((a, b))
        del st.gaps_unfilled[:-50]


class StatusWriter:
    """Snapshots of a :class:`LiveStatus` (with the sink's and the writer's state) to ``status.json``."""

    def __init__(
        self,
        status: LiveStatus,
        feeds: Sequence[LiveFeed],
        sink: Sink,
        writer: WriterHealth,
        cfg: LiveConfig,
        data_dir: Path,
        stopped: Callable[[], bool],
    ) -> None:
        self.status = status
        self.feeds = list(feeds)
        self.sink = sink
        self.writer = writer
        self.cfg = cfg
        self.path = status_path(data_dir)
        self.stopped = stopped

    def snapshot(self) -> dict[str, Any]:
        """The status as plain data (what ``status.json`` holds)."""
        now = time.monotonic()
        streams = []
        for st in self.status.streams.values():
            t0, n0 = st._window
            if t0 and now > t0:
                st.msgs_per_s = (st.messages - n0) / (now - t0)
            st._window = (now, st.messages)
            d = asdict(st)
            d.pop("_window")
            rec = STREAM_RECORD.get(st.stream, st.stream)
            d["rows_written"] = self.sink.written.get((st.venue, rec), 0)
            streams.append(d)
        venues = []
        for vs in self.status.venues.values():  # a venue may run several feeds (OKX: public + business)
            vs.malformed = sum(f.parser.malformed for f in self.feeds if f.venue == vs.venue)
            vs.unknown = sum(f.parser.unknown for f in self.feeds if f.venue == vs.venue)
            venues.append({**asdict(vs), "stalls": self.status.stalls.get(vs.venue, 0)})
        prev = self.status.previous
        return {
            "pid": os.getpid(),
            "started_ms": self.status.started_ms,
            "updated_ms": now_ms(),
            "flush_seconds": self.cfg.flush_seconds,
            "pending_rows": self.sink.pending,
            "flushes": self.sink.flushes,
            "flush_errors": self.sink.flush_errors,
            "written": {f"{v}/{r}": n for (v, r), n in sorted(self.sink.written.items())},
            "writer": asdict(self.writer),
            "failure": self.writer.failure,
            "restart": None
            if prev is None
            else {
                "previous_last_alive_ms": prev.last_alive_ms,
                "previous_stopped_cleanly": prev.stopped_cleanly,
                "down_ms": self.status.started_ms - prev.last_alive_ms,
            },
            "venues": venues,
            "streams": streams,
            "stopped": self.stopped(),
        }

    def write(self) -> None:
        write_json_atomic(self.path, self.snapshot())

    async def run(self, stop: asyncio.Event) -> None:
        """Rewrite the file every ``status_seconds`` until ``stop``."""
        while not stop.is_set():
            try:
                self.write()
            except OSError as exc:  # the status is a report: a failure to write it must not stop capture
                log.warning("status file %s not written: %s", self.path, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.cfg.status_seconds)


def now_ms() -> int:
    return time.time_ns() // 1_000_000
