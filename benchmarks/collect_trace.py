"""Where a live row's latency goes: the collector's stages timed per batch, in the benchmark's worker.

Not the collector's code path: :func:`install` wraps the collector's methods **in the benchmark's
worker process only** (``python -m benchmarks.bench_collect trace [RATE [SECONDS]]``). For the first
frame of every drained batch it records, as wall-clock ns:

- ``sent``: the server's send stamp (the message's event time, integer ms: resolution 1 ms, floored);
- ``recv``: the socket callback took the frame (the event loop read it from the kernel);
- ``drain``: the batch's drain began (its timer fired, or :data:`~perpscope.ingest.socket_loop.DRAIN_FRAMES`
  frames waited);
- ``decoded``: the batch parser returned its rows (msgspec decode + polars frames);
- ``flush``: the flush that took the batch began (the flush loop woke);
- ``admitted``: the last record's rows were checked (:func:`~perpscope.ingest.sink._admit_frames`; on the
  event loop for a flush of up to :data:`~perpscope.ingest.sink.INLINE_ROWS` rows, else in the thread);
- ``thread``: the worker thread began appending (:func:`perpscope.ingest.sink._append_and_sync`);
- ``appended``: the last record's batch was written to its log;
- ``synced``: the last ``fdatasync`` returned;
- ``done``: the flush was back on the event loop (the benchmark's commit instant).

and per flush its rows and start, per garbage collection its generation and pause (``gc.callbacks``),
per flush the commit's CPU split by part (admission, stamp, dedupe, Arrow encoding, log append,
``fdatasync``: ``time.thread_time_ns`` around each call, on whichever thread runs it), and per log
seal its wall and CPU time, with the latency of the batches whose flush ran while a seal did.

Seals run in the sealer process (:mod:`perpscope.store.sealer`, the default): per seal its CPU is the
sum over the sealer's threads of the kernel's on-CPU time (``/proc/<pid>/task/*/schedstat``, ns),
with the time those threads waited for a core and how many threads the sealer had; the sealer's
start-up (its imports, while the collector captures) and its whole CPU are reported too. Per flush the
event loop's thread records how long it waited for a core since the previous flush began (its own
``schedstat``): the share of a row's latency that was CPU competition, split by seal running or not.

The sealer is started as :mod:`benchmarks.seal_phases`, which times each phase of a seal (decode,
prepare, encode, fsync, rename, delete) to a file: the collector's ``fdatasync`` per flush, and each
batch's socket → committed time, are reported by the phase a seal was in meanwhile (``fdatasync |
fsync``: the collector's ``fdatasync`` overlapped one of the sealer's), and each phase's wall and CPU.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

import numpy as np

#: the parts of a flush's commit whose thread CPU is recorded
PARTS = ("admit", "stamp", "dedupe", "encode", "append", "fdatasync")

STAGES = ("sent", "recv", "drain", "decoded", "flush", "admitted", "thread", "appended", "synced", "done")


class Trace:
    """The instants recorded by :func:`install` (see the module docstring)."""

    def __init__(self) -> None:
        #: per drained batch: the instants of :data:`STAGES` (ns; 0 until known) and its frame count
        self.batches: list[list[int]] = []
        self._open: list[int] = []  # batches drained and not yet taken by a flush
        self._first_recv = 0
        #: per flush: [start ns, admitted ns, thread ns, appended ns, synced ns, done ns, rows]
        self.flushes: list[list[int]] = []
        self._cur: list[int] | None = None
        #: per append (:func:`perpscope.ingest.sink._append_and_sync`): its thread's CPU ns and its wall ns
        #: (the difference is time the thread waited: for the GIL, or for a core)
        self.commits: list[tuple[int, int]] = []
        #: per collection: (generation, start ns, pause ns)
        self.gcs: list[tuple[int, int, int]] = []
        self._gc_start = 0
        #: part of a flush's commit → its thread CPU ns per flush (see :data:`PARTS`)
        self.parts: dict[str, list[int]] = {k: [] for k in PARTS}
        self._part_now: dict[str, int] = dict.fromkeys(PARTS, 0)
        #: per log seal: (start ns, end ns, CPU ns: the sealing thread's, or the sealer process's)
        self.seals: list[tuple[int, int, int]] = []
        #: per seal in the sealer process: (its threads' wait for a core ns, its thread count)
        self.seal_waits: list[tuple[int, int]] = []
        #: the sealer process: (start-up wall ns, start-up CPU ns, CPU ns at its close, wait ns at close)
        self.sealer: list[int] = [0, 0, 0, 0]
        #: per flush: the event loop's wait for a core (ns) since the previous flush began
        self.loop_waits: list[int] = []
        self._loop_wait = 0
        #: the file the sealer process appends its phases to (:mod:`benchmarks.seal_phases`)
        self.phases_file: str | None = None

    def gc_callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter_ns()
        else:
            self.gcs.append(
                (int(info["generation"]), self._gc_start, time.perf_counter_ns() - self._gc_start)
            )

    def summary(self) -> dict[str, Any]:
        """Per stage the p50/p90/p99/max of the time since the previous stage (ms), over the batches a
        flush committed; the flushes' sizes and intervals; the collections' pauses."""
        b = np.asarray([r for r in self.batches if all(r)], dtype=np.int64).reshape(-1, 11)
        out: dict[str, Any] = {"batches": len(b)}
        if len(b):
            b[:, 0] *= 1_000_000  # the send stamp is in ms
            for i in range(1, len(STAGES)):
                d = (b[:, i] - b[:, i - 1]) / 1e6
                out[f"{STAGES[i - 1]}→{STAGES[i]}"] = _dist(d)
            out["sent→done"] = _dist((b[:, 9] - b[:, 0]) / 1e6)
            out["frames per batch"] = _dist(b[:, 10].astype(float))
        f = np.asarray([r for r in self.flushes if all(r)], dtype=np.int64).reshape(-1, 7)
        if len(f):
            out["flush rows"] = _dist(f[:, 6].astype(float))
            out["flush interval ms"] = _dist(np.diff(f[:, 0]) / 1e6)
            out["flush duration ms"] = _dist((f[:, 5] - f[:, 0]) / 1e6)
            out["flushes"] = len(f)
        c = np.asarray(self.commits, dtype=np.int64).reshape(-1, 2) / 1e6
        if len(c):
            out["append thread CPU ms"] = _dist(c[:, 0])
            out["append thread wall ms"] = _dist(c[:, 1])
        for k, v in self.parts.items():
            if v:
                out[f"CPU {k} ms"] = _dist(np.asarray(v) / 1e6)
        sl = np.asarray(self.seals, dtype=np.int64).reshape(-1, 3)
        if len(sl):
            out["seals"] = len(sl)
            out["seal wall ms"] = _dist((sl[:, 1] - sl[:, 0]) / 1e6)
            out["seal CPU ms"] = _dist(sl[:, 2] / 1e6)
            sw = np.asarray(self.seal_waits, dtype=np.int64).reshape(-1, 2)
            if len(sw):
                out["seal waits for core ms"] = _dist(sw[:, 0] / 1e6)
                out["sealer threads"] = int(sw[:, 1].max())
            if len(b):
                # a batch whose flush began while a seal ran (the seal competes for the cores)
                start = b[:, 4]
                during = np.zeros(len(b), dtype=bool)
                for s0, s1, _ in sl:
                    during |= (start >= s0) & (start <= s1)
                lat = (b[:, 9] - b[:, 0]) / 1e6
                out["sent→done, seal running"] = _dist(lat[during])
                out["sent→done, no seal"] = _dist(lat[~during])
            if len(f) and len(self.loop_waits) == len(self.flushes):
                # the event loop's wait for a core per flush interval, split as the latency is
                w = np.asarray(self.loop_waits, dtype=np.int64)[[all(r) for r in self.flushes]] / 1e6
                fdur = np.zeros(len(f), dtype=bool)
                for s0, s1, _ in sl:
                    fdur |= (f[:, 0] >= s0) & (f[:, 0] <= s1)
                out["loop wait, seal running"] = _dist(w[fdur])
                out["loop wait, no seal"] = _dist(w[~fdur])
        out.update(self._by_phase(b, f))
        if self.sealer[0]:
            out["sealer start-up ms"] = self.sealer[0] / 1e6
            out["sealer start-up CPU ms"] = self.sealer[1] / 1e6
        if self.sealer[2]:
            out["sealer CPU in all ms"] = self.sealer[2] / 1e6
            out["sealer waits in all ms"] = self.sealer[3] / 1e6
        g = np.asarray(self.gcs, dtype=np.int64).reshape(-1, 3)
        for gen in range(3):
            p = g[g[:, 0] == gen, 2] / 1e6
            out[f"gc gen{gen} pauses"] = (len(p), float(p.sum()), float(p.max()) if len(p) else 0.0)
        return out

    def _phases(self) -> list[tuple[str, int, int, int]]:
        """The sealer's phases (:mod:`benchmarks.seal_phases`): (phase, start ns, end ns, CPU ns)."""
        if not self.phases_file:
            return []
        try:
            with open(self.phases_file) as fh:
                rows = [line.split() for line in fh]
        except FileNotFoundError:
            return []
        return [(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows if len(r) == 4]

    def _by_phase(self, b: np.ndarray, f: np.ndarray) -> dict[str, Any]:
        """Per seal phase: the flushes whose ``fdatasync`` overlapped it (their fdatasync ms), and the
        batches whose flush overlapped it (their socket → committed ms); a flush overlapping several
        phases counts under the first of :data:`PHASE_ORDER`."""
        ph = self._phases()
        sl = np.asarray(self.seals, dtype=np.int64).reshape(-1, 3)
        out: dict[str, Any] = {}
        if not len(f):
            return out
        tot: dict[str, list[int]] = {}
        for name, t0, t1, cpu in ph:
            acc = tot.setdefault(name, [0, 0, 0])
            acc[0] += 1
            acc[1] += t1 - t0
            acc[2] += cpu
        for name in PHASE_ORDER:
            if name in tot:
                n, wall, cpu = tot[name]
                out[f"phase {name}"] = f"{n} calls, wall {wall / 1e6:,.1f} ms, CPU {cpu / 1e6:,.1f} ms"

        def tag(s0: int, s1: int) -> str:
            hit = {name for name, t0, t1, _ in ph if t0 <= s1 and t1 >= s0}
            for name in PHASE_ORDER:
                if name in hit:
                    return name
            if any(a <= s1 and z >= s0 for a, z, _ in sl):
                return "seal, other"
            return "no seal"

        sync_ms = (f[:, 4] - f[:, 3]) / 1e6
        ftags = [tag(int(r[3]), int(r[4])) for r in f]
        whole = [tag(int(r[0]), int(r[5])) for r in f]
        for name in (*PHASE_ORDER, "seal, other", "no seal"):
            m = np.asarray([t == name for t in ftags], dtype=bool)
            if m.any():
                out[f"fdatasync | {name}"] = (*_dist(sync_ms[m]), int(m.sum()))
        if len(b):
            lat = (b[:, 9] - b[:, 0]) / 1e6
            by_start = {int(r[0]): t for r, t in zip(f, whole, strict=True)}
            btags = [by_start.get(int(s), "?") for s in b[:, 4]]
            for name in (*PHASE_ORDER, "seal, other", "no seal"):
                m = np.asarray([t == name for t in btags], dtype=bool)
                if m.any():
                    out[f"sent→done | {name}"] = (*_dist(lat[m]), int(m.sum()))
        return out


#: seal phases, in the order a flush overlapping several is counted under (the disk's first)
PHASE_ORDER = ("fsync", "rename", "delete", "encode", "prepare", "decode")


def _schedstat(pid: int | str = "self", thread: int | str | None = None) -> tuple[int, int, int]:
    """The kernel's (on-CPU ns, run-queue wait ns, threads) of a process (summed over its live threads)
    or of one of its threads; zeros when it is gone."""
    import os

    cpu = wait = n = 0
    tasks = [str(thread)] if thread is not None else None
    try:
        for t in tasks if tasks is not None else os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/schedstat") as fh:
                    run, waited, _ = fh.read().split()
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue
            cpu, wait, n = cpu + int(run), wait + int(waited), n + 1
    except (FileNotFoundError, ProcessLookupError):
        pass
    return cpu, wait, n


def _dist(x: np.ndarray) -> tuple[float, float, float, float]:
    if not len(x):
        return (float("nan"),) * 4
    p50, p90, p99 = np.percentile(x, [50, 90, 99])
    return float(p50), float(p90), float(p99), float(x.max())


def install() -> Trace:
    """Wrap the collector's stages (this process only) and return the :class:`Trace` they fill."""
    import polars as pl

    from perpscope.ingest import sink as sink_mod
    from perpscope.ingest.socket_loop import SocketLoop
    from perpscope.store.live_log import LiveLog
    from perpscope.store.sealer import Sealer
    from perpscope.venues.binance.stream_batch import BinanceBatchParser

    tr = Trace()
    gc.callbacks.append(tr.gc_callback)
    now = time.time_ns

    handle = SocketLoop.handle

    def traced_handle(self: SocketLoop, raw: str | bytes) -> None:
        if self._pending is not None and not self._pending:
            tr._first_recv = now()
        handle(self, raw)

    drain = SocketLoop.drain

    def traced_drain(self: SocketLoop) -> None:
        if self._pending:
            tr.batches.append([0, tr._first_recv, now(), 0, 0, 0, 0, 0, 0, 0, len(self._pending)])
            tr._open.append(len(tr.batches) - 1)
        drain(self)

    take = BinanceBatchParser.take

    def traced_take(self: BinanceBatchParser) -> list[Any]:
        out = take(self)
        if out and tr.batches:
            rec = tr.batches[-1]
            rec[3] = now()
            item = out[0][2]
            rec[0] = int(item.get_column("ts_ms")[0]) if isinstance(item, pl.DataFrame) else int(item.ts_ms)
        return out

    flush = sink_mod.Sink.flush

    async def traced_flush(self: sink_mod.Sink) -> int:
        taken, tr._open = tr._open, []
        cur = tr._cur = [now(), 0, 0, 0, 0, 0, self.pending]
        waited = _schedstat(thread=loop_tid)[1]
        tr.loop_waits.append(waited - tr._loop_wait if tr._loop_wait else 0)
        tr._loop_wait = waited
        tr._part_now = dict.fromkeys(PARTS, 0)
        n = await flush(self)
        cur[5] = now()
        tr.flushes.append(cur)
        for k, v in tr._part_now.items():
            tr.parts[k].append(v)
        for i in taken:
            rec = tr.batches[i]
            rec[4:10] = cur[0:6]
        return n

    commit = sink_mod._append_and_sync

    def traced_commit(*a: Any) -> Any:
        if tr._cur is not None:
            tr._cur[2] = now()
        cpu, wall = time.thread_time_ns(), time.perf_counter_ns()
        try:
            return commit(*a)
        finally:
            tr.commits.append((time.thread_time_ns() - cpu, time.perf_counter_ns() - wall))

    def cpu_of(part: str, fn: Any) -> Any:
        def timed(*a: Any, **k: Any) -> Any:
            c = time.thread_time_ns()
            try:
                return fn(*a, **k)
            finally:
                tr._part_now[part] += time.thread_time_ns() - c

        return timed

    admit = cpu_of("admit", sink_mod._admit_frames)

    def traced_admit(*a: Any) -> Any:
        out = admit(*a)
        if tr._cur is not None:
            tr._cur[1] = now()
        return out

    append = cpu_of("append", LiveLog.append)

    def traced_append(self: LiveLog, encoded: Any) -> int:
        n = int(append(self, encoded))
        if tr._cur is not None:
            tr._cur[3] = now()
        return n

    sync = cpu_of("fdatasync", LiveLog.sync)

    def traced_sync(self: LiveLog) -> None:
        sync(self)
        if tr._cur is not None:
            tr._cur[4] = now()

    seal = sink_mod.seal

    def traced_seal(*a: Any) -> Any:
        t0, c0 = now(), time.thread_time_ns()
        try:
            return seal(*a)
        finally:
            tr.seals.append((t0, now(), time.thread_time_ns() - c0))

    seal_proc = Sealer.seal

    async def traced_proc_seal(self: Sealer, root: Any, record: str, path: Any) -> Any:
        if self.proc is None or self.proc.returncode is not None:
            # the sealer answers its first request once its imports are done: time them with one
            # request for a segment that is not there (answered with 0 rows)
            t0 = now()
            await seal_proc(self, root, record, Path(root) / "no-such-segment.arrows")
            assert self.proc is not None
            tr.sealer[0], tr.sealer[1] = now() - t0, _schedstat(self.proc.pid)[0]
        assert self.proc is not None
        pid = self.proc.pid
        t0 = now()
        c0, w0, _ = _schedstat(pid)
        try:
            return await seal_proc(self, root, record, path)
        finally:
            c1, w1, n = _schedstat(pid)
            tr.seals.append((t0, now(), c1 - c0))
            tr.seal_waits.append((w1 - w0, n))

    close = Sealer.close

    async def traced_close(self: Sealer) -> None:
        if self.proc is not None:
            tr.sealer[2], tr.sealer[3], _ = _schedstat(self.proc.pid)
        await close(self)

    import threading

    loop_tid = threading.get_native_id()  # install() runs on the thread that runs the event loop
    _spawn_traced(tr)
    Sealer.seal = traced_proc_seal  # type: ignore[method-assign]
    Sealer.close = traced_close  # type: ignore[method-assign]
    sink_mod._stamped = cpu_of("stamp", sink_mod._stamped)
    sink_mod.one_per_key = cpu_of("dedupe", sink_mod.one_per_key)
    sink_mod.seal = traced_seal

    SocketLoop.handle = traced_handle  # type: ignore[method-assign]
    SocketLoop.drain = traced_drain  # type: ignore[method-assign]
    BinanceBatchParser.take = traced_take  # type: ignore[method-assign]
    sink_mod.Sink.flush = traced_flush  # type: ignore[method-assign]
    sink_mod._append_and_sync = traced_commit
    sink_mod._admit_frames = traced_admit
    LiveLog.append = traced_append  # type: ignore[method-assign]
    LiveLog.encode = cpu_of("encode", LiveLog.encode)  # type: ignore[method-assign]
    LiveLog.sync = traced_sync  # type: ignore[method-assign]
    return tr


def _spawn_traced(tr: Trace) -> None:
    """The sealer process started as :mod:`benchmarks.seal_phases` (its phases timed to a file)."""
    import asyncio
    import os
    import tempfile

    fd, tr.phases_file = tempfile.mkstemp(prefix="seal-phases-", suffix=".txt")
    os.close(fd)
    spawn = asyncio.create_subprocess_exec

    async def traced(*args: Any, **kw: Any) -> Any:
        if "perpscope.store.sealer" in args:
            args = tuple("benchmarks.seal_phases" if a == "perpscope.store.sealer" else a for a in args)
            kw["env"] = {**kw.get("env", os.environ), "PERPSCOPE_SEAL_PHASES": tr.phases_file}
        return await spawn(*args, **kw)

    asyncio.create_subprocess_exec = traced  # type: ignore[assignment]  # this worker process only


def report(summary: dict[str, Any], server: dict[str, Any] | None = None) -> str:
    """The summary as lines (ms unless said)."""
    lines = []
    for k, v in summary.items():
        if isinstance(v, tuple) and len(v) == 4:
            lines.append(f"  {k:<22} p50 {v[0]:8.2f}  p90 {v[1]:8.2f}  p99 {v[2]:8.2f}  max {v[3]:8.2f}")
        elif isinstance(v, tuple) and len(v) == 5:
            lines.append(
                f"  {k:<22} p50 {v[0]:8.2f}  p90 {v[1]:8.2f}  p99 {v[2]:8.2f}  max {v[3]:8.2f}  n {v[4]:,}"
            )
        elif isinstance(v, tuple):
            lines.append(f"  {k:<22} {v[0]:,} collections, {v[1]:.1f} ms in all, longest {v[2]:.2f} ms")
        elif isinstance(v, str):
            lines.append(f"  {k:<22} {v}")
        else:
            lines.append(f"  {k:<22} {v:,}")
    if server:
        lines.append(
            "  server                 "
            + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in server.items())
        )
    return "\n".join(lines)
