"""The live collector's write path and its settings: rows batched per record type, written by one task.

A flush is committed to the store's write-ahead log (:mod:`perpscope.store.live_log`): one append and
one ``fdatasync`` per record type, every record's batch written in one worker-thread hop. Full or old
log segments are sealed into Parquet parts by a worker thread, and the last one on stop. With
``LiveConfig.write_path = "parts"`` (and always on an object-store lake, which has no local log) each
flush is written as part files instead (:func:`perpscope.store.parts.append`).

See :mod:`perpscope.ingest.live` for the guarantees this gives (no loss on a clean stop, at most one
unflushed batch on ``kill -9``). Every row passes the boundary checks
(:mod:`perpscope.records.validate`) before it is written: a bad row (a NaN or infinite price, a
timestamp before 2009 or beyond int64, a negative price) is dropped and counted in
:attr:`Sink.rejected` — it never reaches the store and never stops the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from perpscope.records import RecordType
from perpscope.records.validate import Rejection, admit_planned, frame_from_rows
from perpscope.store import Lake
from perpscope.store.lake import one_per_key
from perpscope.store.live_log import SEAL_AGE_S, SEAL_BYTES, Encoded, LiveLog, Segment, new_session, seal
from perpscope.store.object_lake import ObjectLake
from perpscope.store.parts import COMPACT_PARTS, compact, is_part, month_of_part
from perpscope.store.sealer import Sealer

#: Rows turned into columns at a time before yielding to the event loop (keeps read latency low).
FRAME_CHUNK = 4096
#: The collector's thread switch interval (seconds; Python's default is 5 ms). A flush's commit runs in a
#: worker thread that gives up the GIL for each polars, Arrow and file call; while the event loop is busy
#: reading sockets, taking it back waits for the switch interval each time, so a commit of some twenty
#: such calls took 20 × 5 ms: at 100 k msg/s under load, socket → committed p50 834–1,523 ms with 5 ms,
#: 27–124 ms with 0.5 ms (``bench_collect``, interleaved rounds). A waiting thread is what makes the
#: interval count: while the worker is idle the event loop is never interrupted.
GIL_SWITCH_S = 0.0005
#: A flush of at most this many rows is checked, stamped, deduplicated and encoded on the event loop
#: (numpy, a few polars and Arrow calls: ~0.4 ms for a flush of 550 trades and a liquidation), and only
#: its log writes and fdatasyncs run in the worker thread. In the thread each of those calls that gives
#: up the GIL waited to take it back from the busy event loop (up to the switch interval each time). A
#: larger flush (a backlog after a stall) is checked in the thread, so the sockets keep being read.
INLINE_ROWS = 4096


@dataclass(frozen=True)
class LiveConfig:
    """Collector settings.

    Attributes
    ----------
    flush_seconds : float
        Longest time a received row waits before being written (the kill -9 loss bound).
    max_batch : int
        Rows waiting that trigger a write before ``flush_seconds``.
    status_seconds : float
        How often the status file is rewritten.
    backoff_s, backoff_max_s : float
        First reconnect delay and its cap (doubled per failed attempt, jittered ±50%).
    fsync : bool
        Each flush reaches the disk before it counts as written (``fdatasync`` of the log; for parts,
        fsync before the rename): durable across a power loss. ``kill -9`` never leaves a partial batch
        or part either way.
    compact_parts : int
        Parts of one month that start its compaction into the month file, in a worker thread.
    write_path : {"log", "parts"}
        ``log``: flushes appended to the write-ahead log (:mod:`perpscope.store.live_log`), sealed into
        parts later; ``parts``: each flush as part files (:func:`perpscope.store.parts.append`).
    seal_bytes, seal_age_s : int, float
        A log segment holding this many bytes, or this old (seconds), is sealed into parts.
    seal_process : bool
        Seal in a process of its own at a lower priority (:mod:`perpscope.store.sealer`, which says
        why), not in a thread of the collector's.
    seal_idle : bool
        That process runs under ``SCHED_IDLE`` on one thread (only on a core nothing else wants),
        raised to ``nice`` +10 when a backlog builds: a seal running longer than ``seal_age_s``, or
        another segment full behind it (:meth:`Sink._seal_due`). Off by default: measured on a
        loaded machine it was no better, and a starved sealer inside the journal held up the
        collector's ``fdatasync`` (:mod:`perpscope.store.sealer` gives the figures).
    gil_switch_s : float or None
        The interpreter's thread switch interval while the collector runs (``sys.setswitchinterval``;
        None leaves it as it is): see :data:`GIL_SWITCH_S`.
    """

    flush_seconds: float = 1.0
    max_batch: int = 50_000
    status_seconds: float = 2.0
    backoff_s: float = 0.5
    backoff_max_s: float = 30.0
    ping_interval_s: float | None = 20.0
    open_timeout_s: float = 10.0
    fsync: bool = True
    compact_parts: int = COMPACT_PARTS
    write_path: str = "log"
    seal_bytes: int = SEAL_BYTES
    seal_age_s: float = SEAL_AGE_S
    seal_process: bool = True
    seal_idle: bool = False
    gil_switch_s: float | None = GIL_SWITCH_S


@dataclass
class StreamStatus:
    """Counters of one venue stream."""

    venue: str
    stream: str
    messages: int = 0
    rows: int = 0
    rows_written: int = 0
    last_event_ms: int | None = None
    last_recv_ms: int | None = None
    lag_ms: int | None = None
    msgs_per_s: float = 0.0
    reconnects: int = 0
    gaps_filled: int = 0
    rows_filled: int = 0
    gaps_unfilled: list[tuple[int, int]] = field(default_factory=list)
    duplicates: int = 0
    _window: tuple[float, int] = (0.0, 0)


@dataclass
class VenueStatus:
    venue: str
    connected: bool = False
    reconnects: int = 0
    malformed: int = 0
    unknown: int = 0
    last_error: str | None = None
    fatal: str | None = None
    #: the venue's liquidation feed: complete (every liquidation) or sampled, and the rule in words
    liquidations_complete: bool | None = None
    liquidation_sampling: str = ""


#: ``observe(record_type, ts_ms, recv_ns)``: rows of one record just buffered — their event times (ms
#: UTC, Int64) and when their frames were taken from the socket (ns, wall clock).
Observer = Callable[[RecordType, pl.Series, int], None]
#: ``on_flush(frames, done_ns)``: the rows a flush wrote (conformed frame per record) and when it ended.
FlushObserver = Callable[[dict[RecordType, pl.DataFrame], int], None]


class Sink:
    """Row buffers per record type, written to the lake by one writer task.

    A flush swaps the buffers out and writes them in a worker thread, so the event loop keeps reading
    sockets during the write. Only one write runs at a time (the lake's lock also guards other processes).
    """

    def __init__(self, lake: Lake, cfg: LiveConfig, on_flush: FlushObserver | None = None) -> None:
        self.lake = lake
        self.cfg = cfg
        self.rows: dict[RecordType, list[Any]] = {}
        self.frames: dict[RecordType, list[pl.DataFrame]] = {}
        self.pending = 0
        self.written: dict[tuple[str, str], int] = {}  # (venue, record) → rows added
        self.flushes = 0
        self.flush_errors = 0
        self.last_error: str | None = None
        #: (venue, record) → rows dropped by the boundary checks; ``collect-status`` shows these
        self.rejected: dict[tuple[str, str], int] = {}
        #: the latest dropped row's reason, with its record and venue
        self.last_rejection: str | None = None
        self.wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.on_flush = on_flush
        self._io = (0.0, 0.0)  # the current flush's (append, sync) seconds
        self._parts: dict[Path, int] = {}  # month file → parts written beside it since its compaction
        self.compaction: asyncio.Task[None] | None = None
        #: months whose parts were folded into their month file
        self.compactions = 0
        #: the write-ahead log per record (None: flushes go to part files)
        self.session = new_session()
        self.logs: dict[RecordType, LiveLog] | None = (
            {} if cfg.write_path == "log" and not isinstance(lake, ObjectLake) else None
        )
        self.sealing: asyncio.Task[None] | None = None
        #: log segments sealed into parts
        self.seals = 0
        #: its process starts with the collector (:meth:`start_sealer`) or at the first seal
        self._sealer = Sealer(idle=cfg.seal_idle)
        #: the latest flushes' timings in seconds: (whole flush, log appends, fdatasyncs), for the
        #: benchmark's profile of where a row's latency goes
        self.timings: deque[tuple[float, float, float]] = deque(maxlen=100_000)
        #: called at the start of every flush, before the buffers are swapped: the socket loops' drains
        #: (:meth:`~perpscope.ingest.socket_loop.SocketLoop.drain`), so a flush takes every frame received
        #: until it began instead of leaving those still waiting for their drain timer to the next flush
        self.drains: list[Callable[[], None]] = []

    def add(self, rt: RecordType, row: Any) -> None:
        self.rows.setdefault(rt, []).append(row)
        self.pending += 1
        if self.pending >= self.cfg.max_batch:
            self.wake.set()

    def add_frame(self, rt: RecordType, df: pl.DataFrame) -> None:
        if df.height:
            self.frames.setdefault(rt, []).append(df)
            self.pending += df.height
            if self.pending >= self.cfg.max_batch:
                self.wake.set()

    @property
    def rejected_total(self) -> int:
        """Rows dropped by the boundary checks since the sink started, over every venue and record."""
        return sum(self.rejected.values())

    def _reject(self, rt: RecordType, venue: str, reason: str, n: int = 1) -> None:
        self.rejected[(venue, rt.name)] = self.rejected.get((venue, rt.name), 0) + n
        self.last_rejection = f"{venue} {rt.name}: {reason}"

    async def flush(self) -> int:
        """Write everything buffered; returns rows offered. A failed write keeps its rows for the next try."""
        async with self._lock:
            for drain in self.drains:
                try:
                    drain()
                except Exception as exc:  # its frames stay with the socket loop: the flush goes on
                    self.last_error = f"drain: {type(exc).__name__}: {exc}"
            rows, frames = self.rows, self.frames
            self.rows, self.frames, self.pending = {}, {}, 0
            if not rows and not frames:
                return 0
            began = time.perf_counter()
            self._io = (0.0, 0.0)
            if self.logs is not None:
                written = await self._commit_to_log(frames, rows)
            else:
                built: dict[RecordType, pl.DataFrame] = {}
                for rt in set(rows) | set(frames):
                    # the frame is built here (row-wise Python work: in a thread it would fight the
                    # event loop for the GIL); the Parquet merge and write release the GIL in a thread
                    df = await self._frame(rt, frames.get(rt, []), rows.get(rt, []))
                    if not df.is_empty():
                        built[rt] = _stamped(rt, df)
                written = await self._write_parts(built)
            offered = 0
            for rt, df in written.items():
                offered += df.height
                one = _only_venue(df)
                per_venue = [(one, df.height)] if one is not None else df.group_by("venue").len().iter_rows()
                for venue, n in per_venue:
                    self.written[(venue, rt.name)] = self.written.get((venue, rt.name), 0) + int(n)
            self.flushes += 1
            self.timings.append((time.perf_counter() - began, *self._io))
            if self.on_flush is not None:
                self.on_flush(written, time.time_ns())
            if self.logs is not None:
                self._seal_due()
            return offered

    async def _write_parts(self, built: dict[RecordType, pl.DataFrame]) -> dict[RecordType, pl.DataFrame]:
        """Each record's rows as part files (one per partition and month); a failed record's rows kept."""
        written: dict[RecordType, pl.DataFrame] = {}
        for rt, df in built.items():
            try:
                # one new part file per partition and month: no month file is read or rewritten
                res = await asyncio.to_thread(self.lake.append, rt, df, fsync=self.cfg.fsync)
            except Exception as exc:  # keep the rows: the next flush retries them
                self._failed(rt, df, exc)
                continue
            written[rt] = df
            self._count_parts(res.files)
        return written

    async def _commit_to_log(
        self, frames: dict[RecordType, list[pl.DataFrame]], rows: dict[RecordType, list[Any]]
    ) -> dict[RecordType, pl.DataFrame]:
        """Every record's rows checked, appended to its log, then each log synced, with **one**
        worker-thread hop (each hop waits for an event-loop turn, which under a busy socket is the
        latency): a flush of up to :data:`INLINE_ROWS` rows is checked and encoded on the loop and only
        written and synced in the thread, a larger one goes to the thread whole. Row objects (feeds
        without a batch parser, REST fills) are turned into columns on the loop first, in chunks. A
        record whose append or sync failed keeps its rows for the next flush (a retried batch may then
        be in the log twice: the same keys, deduplicated by every reader)."""
        assert self.logs is not None
        now_ms = time.time_ns() // 1_000_000
        groups = {rt: list(fs) for rt, fs in frames.items()}
        for rt, objs in rows.items():
            df = await self._frame(rt, [], objs)  # row-wise Python work: on the loop, yielding
            if df.height:
                groups.setdefault(rt, []).append(df)
        for rt in groups:
            if rt not in self.logs:
                self.logs[rt] = LiveLog(self.lake, rt, self.session, fsync=self.cfg.fsync)
        if sum(f.height for fs in groups.values() for f in fs) <= INLINE_ROWS:
            admitted, refused = _admitted(groups, now_ms)  # on the loop: see INLINE_ROWS
            encoded = _encoded(self.logs, admitted)
            outcome, self._io = await asyncio.to_thread(_append_and_sync, self.logs, admitted, encoded)
        else:
            outcome, refused, self._io = await asyncio.to_thread(_commit_groups, self.logs, groups, now_ms)
        for rt, venue, reason in refused:
            self._reject(rt, venue, reason)
        written: dict[RecordType, pl.DataFrame] = {}
        for rt, (got, exc) in outcome.items():
            if exc is None and got is not None:
                written[rt] = got
            elif exc is None:
                continue
            elif got is not None:
                self._failed(rt, got, exc)
            else:  # failed before its rows were one frame: keep the frames as they came
                self.flush_errors += 1
                self.last_error = f"{rt.name}: {exc}"
                for f in groups[rt]:
                    self.add_frame(rt, f)
        return written

    def _failed(self, rt: RecordType, df: pl.DataFrame, exc: Exception) -> None:
        self.flush_errors += 1
        self.last_error = f"{rt.name}: {exc}"
        self.add_frame(rt, df)

    async def start_sealer(self) -> None:
        """Start the sealer process now and wait for its imports (the collector does, before it
        captures), so they run neither beside the capture's start nor at the first seal; nothing when
        seals run in a thread."""
        if self.logs is not None and self.cfg.seal_process:
            await self._sealer.ready()

    @property
    def seals_hurried(self) -> int:
        """Seals raised out of ``SCHED_IDLE`` for a backlog (:meth:`Sealer.hurry`)."""
        return self._sealer.hurried

    def _seal_due(self) -> None:
        """Rotate the logs whose open segment is full or old and seal them in a worker thread or the
        sealer process (one sealing at a time, never awaited by a flush). While one runs, a backlog
        (a segment full behind it, or the seal older than ``seal_age_s``) hurries it out of
        ``SCHED_IDLE``: an idle sealer on cores that are never idle would otherwise never finish."""
        assert self.logs is not None
        if self.sealing is not None and not self.sealing.done():
            if self._sealer.overdue(self.cfg.seal_age_s) or any(
                log.segment is not None and log.segment.bytes >= self.cfg.seal_bytes
                for log in self.logs.values()
            ):
                self._sealer.hurry()
            return
        due = [
            (rt, seg)
            for rt, log in self.logs.items()
            if log.due(self.cfg.seal_bytes, self.cfg.seal_age_s) and (seg := log.rotate()) is not None
        ]
        if due:
            self.sealing = asyncio.create_task(self._seal(due), name="seal")

    async def _seal(self, segments: list[tuple[RecordType, Segment]]) -> None:
        for rt, seg in segments:
            try:
                if self.cfg.seal_process:
                    seg.close()  # the lock passes with the file: the sealer takes it as an orphan's
                    _, files = await self._sealer.seal(self.lake.root, rt.name, seg.path)
                else:
                    _, files = await asyncio.to_thread(seal, self.lake, rt, seg)
            except Exception as exc:  # the segment stays (closed): the next seal of orphans takes it
                seg.close()
                self.last_error = f"seal {rt.name}: {type(exc).__name__}: {exc}"
                continue
            self.seals += 1
            self._count_parts(files)

    def _count_parts(self, files: tuple[Path, ...]) -> None:
        """Count the parts written per month; a month with :attr:`LiveConfig.compact_parts` of them is
        folded into its month file by a worker thread (one compaction at a time, never awaited by a
        flush: the flushes go on meanwhile)."""
        for f in files:
            if is_part(f):
                m = month_of_part(f)
                self._parts[m] = self._parts.get(m, 0) + 1
        if self.compaction is not None and not self.compaction.done():
            return
        due = [m for m, n in self._parts.items() if n >= self.cfg.compact_parts]
        if due:
            for m in due:
                del self._parts[m]
            self.compaction = asyncio.create_task(self._compact(due), name="compact")

    async def _compact(self, months: list[Path]) -> None:
        try:
            res = await asyncio.to_thread(compact, self.lake, months=months, into_month=False)
            self.compactions += res.months
        except Exception as exc:  # the parts stay readable; the next threshold tries again
            self.last_error = f"compaction: {type(exc).__name__}: {exc}"

    async def settle(self) -> None:
        """Seal the logs' last segments and wait for a compaction in progress (before the process
        exits)."""
        if self.sealing is not None:
            await self._bounded(self.sealing)
        if self.logs:
            last = [(rt, seg) for rt, log in self.logs.items() if (seg := log.rotate()) is not None]
            await self._bounded(asyncio.create_task(self._seal(last), name="seal"))
        if self.compaction is not None:
            await asyncio.gather(self.compaction, return_exceptions=True)
        await self._sealer.close()

    async def _bounded(self, sealing: asyncio.Task[None]) -> None:
        """Wait for a sealing on stop: hurried out of ``SCHED_IDLE`` after ``seal_age_s`` (no flush
        runs then to see the backlog)."""
        while not (await asyncio.wait({sealing}, timeout=self.cfg.seal_age_s))[0]:
            self._sealer.hurry()  # the segment being sealed now (one of several, in turn)
        await asyncio.gather(sealing, return_exceptions=True)

    async def _frame(self, rt: RecordType, frames: list[pl.DataFrame], rows: list[Any]) -> pl.DataFrame:
        """One checked frame of ``frames`` and ``rows``, built in chunks that yield to the event loop
        between them, so sockets keep being read while a large batch is turned into columns. Rows that
        fail the boundary checks are dropped and counted (:attr:`rejected`)."""
        now_ms = time.time_ns() // 1_000_000
        parts = []
        # frames of one shape (the live batches; a REST gap fill is another) are conformed and checked
        # together: per frame, the fixed cost of those steps dominated at high message rates
        same_shape: dict[tuple[tuple[str, Any], ...], list[pl.DataFrame]] = {}
        for df in frames:
            same_shape.setdefault(tuple(df.schema.items()), []).append(df)
        for group in same_shape.values():
            # columnar polars work that releases the GIL: in a thread, so the event loop keeps reading
            raw, good, refused = await asyncio.to_thread(_admit_frames, rt, group, now_ms)
            for r in refused:
                self._reject(rt, _venue_of(raw, r.row), r.reason)
            parts.append(good)
        for i in range(0, len(rows), FRAME_CHUNK):
            good, bad = frame_from_rows(rt, rows[i : i + FRAME_CHUNK], now_ms=now_ms)
            for row, reason in bad:
                self._reject(rt, str(getattr(row, "venue", "?")), reason)
            parts.append(good)
            await asyncio.sleep(0)
        parts = [p for p in parts if p.height]
        if not parts:
            return rt.empty()
        return pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]

    async def run(self, stop: asyncio.Event) -> None:
        """Flush every ``flush_seconds`` or when ``max_batch`` rows wait, until ``stop``."""
        while not stop.is_set():
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.cfg.flush_seconds)
            try:
                await self.flush()
            except Exception as exc:  # the writer must outlive any one bad batch
                self.flush_errors += 1
                self.last_error = f"flush: {type(exc).__name__}: {exc}"


#: live capture's ``source``: ``stream:<venue>`` (built once: an expression costs Python per flush)
_SOURCE = pl.concat_str(pl.lit("stream:"), pl.col("venue")).alias("source")


def _stamped(rt: RecordType, df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with live capture's ``source`` (``stream:<venue>``) where the record has one. A flush of one
    venue gets the one value repeated (made in Rust; the expression is a query: ~0.1 ms per flush)."""
    if "source" not in rt.columns:
        return df
    one = _only_venue(df)
    if one is None:
        return df.with_columns(_SOURCE)
    out = df.clone()  # shallow: the columns are shared, the frame handed in is left as it was
    stamp = pl.Series("source", [f"stream:{one}"], dtype=pl.String).new_from_index(0, df.height)
    out.replace_column(df.get_column_index("source"), stamp)
    return out


def _only_venue(df: pl.DataFrame) -> str | None:
    """The venue of every row of ``df`` when there is one (no row without), else None."""
    if not df.height or "venue" not in df.columns:
        return None
    v = df.get_column("venue")
    if v.null_count() or v.min() != v.max():  # two reductions, no query
        return None
    return str(v[0])


#: What :func:`_commit_groups` did per record: the rows committed (or kept for a retry) and the error.
_Outcome = tuple[pl.DataFrame | None, Exception | None]


def _commit_groups(
    logs: dict[RecordType, LiveLog], groups: dict[RecordType, list[pl.DataFrame]], now_ms: int
) -> tuple[dict[RecordType, _Outcome], list[tuple[RecordType, str, str]], tuple[float, float]]:
    """In one worker thread: :func:`_admitted` then :func:`_append_and_sync` (a large flush)."""
    admitted, refused = _admitted(groups, now_ms)
    out, io = _append_and_sync(logs, admitted)
    return out, refused, io


def _admitted(
    groups: dict[RecordType, list[pl.DataFrame]], now_ms: int
) -> tuple[dict[RecordType, _Outcome], list[tuple[RecordType, str, str]]]:
    """Each record's frames checked (:func:`admit_frame`; frames of one shape together), stamped and
    prepared as the store keeps them. Returns per record its rows (a record with none admitted is left
    out) or the error that stopped it (rows None), and the refused rows ``(record, venue, reason)``."""
    out: dict[RecordType, _Outcome] = {}
    refused: list[tuple[RecordType, str, str]] = []
    for rt, frames in groups.items():
        try:
            same_shape: dict[tuple[tuple[str, Any], ...], list[pl.DataFrame]] = {}
            for df in frames:
                same_shape.setdefault(tuple(df.schema.items()), []).append(df)
            parts = []
            for group in same_shape.values():
                raw, good, bad = _admit_frames(rt, group, now_ms)
                refused += [(rt, _venue_of(raw, r.row), r.reason) for r in bad]
                if good.height:
                    parts.append(good)
            if not parts:
                continue
            both = pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]
            # admitted rows are conformed (and the stamp keeps the String source): only the dedupe of
            # :func:`prepared` is left to do
            out[rt] = (one_per_key(rt, _stamped(rt, both)), None)
        except Exception as exc:
            out[rt] = (None, exc)
    return out, refused


def _encoded(
    logs: dict[RecordType, LiveLog], admitted: dict[RecordType, _Outcome]
) -> dict[RecordType, Encoded]:
    """Each record's admitted rows as its log's batch message (:meth:`LiveLog.encode`); a record whose
    encoding failed gets the error in ``admitted`` (its rows are kept for the next flush)."""
    out: dict[RecordType, Encoded] = {}
    for rt, (rows, failed) in list(admitted.items()):
        if failed is None and rows is not None:
            try:
                enc = logs[rt].encode(rows)
            except Exception as exc:
                admitted[rt] = (rows, exc)
                continue
            if enc is not None:
                out[rt] = enc
    return out


def _append_and_sync(
    logs: dict[RecordType, LiveLog],
    admitted: dict[RecordType, _Outcome],
    encoded: dict[RecordType, Encoded] | None = None,
) -> tuple[dict[RecordType, _Outcome], tuple[float, float]]:
    """Each record's admitted rows appended to its log (as ``encoded`` already, else encoded here),
    then every log written synced (``fdatasync``). Returns per record its committed rows or its error,
    and the seconds spent appending (with any encoding) and syncing."""
    out: dict[RecordType, _Outcome] = {}
    t0 = time.perf_counter()
    for rt, (rows, failed) in admitted.items():
        if failed is not None or rows is None:
            out[rt] = (rows, failed)
            continue
        try:
            if encoded is not None and rt in encoded:
                logs[rt].append(encoded[rt])
            else:
                logs[rt].write(rows)
            out[rt] = (rows, None)
        except Exception as exc:
            out[rt] = (rows, exc)
    t1 = time.perf_counter()
    for rt, (done, failed) in list(out.items()):
        if failed is None:
            try:
                logs[rt].sync()
            except Exception as err:
                out[rt] = (done, err)
    return out, (t1 - t0, time.perf_counter() - t1)


def _admit_frames(
    rt: RecordType, group: list[pl.DataFrame], now_ms: int
) -> tuple[pl.DataFrame, pl.DataFrame, list[Rejection]]:
    """Frames of one shape as one frame, and its admitted rows and refusals (:func:`admit_frame`)."""
    raw = pl.concat(group, how="vertical") if len(group) > 1 else group[0]
    good, refused = admit_planned(rt, raw, now_ms=now_ms)
    return raw, good, refused


def _venue_of(df: pl.DataFrame, row: int) -> str:
    if "venue" in df.columns and row < df.height:
        v = df.item(row, "venue")
        return str(v) if v is not None else "?"
    return "?"
