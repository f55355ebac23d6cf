"""A live collector's sealer: a process of its own, at a lower scheduling priority, that seals closed log
segments into Parquet parts (:func:`perpscope.store.live_log.seal`) while the collector keeps capturing.

Why a process: a seal writes a segment into Parquet (0.6-0.9 s of CPU for 32 MB, 1.1 M trades). In a
thread of the collector it shares the GIL and the libraries' thread pools with the event loop, and the
rows flushed meanwhile waited: at 200 k msg/s, p99 socket → committed 175 ms while a seal ran against
21 ms otherwise (``bench_collect trace``); with no seal during the run the p99 was 9-10 ms. A
lower-priority thread alone did not help (p99 74-84 ms): the work runs in polars' and Arrow's own
threads.

``SCHED_IDLE`` and one thread (``LiveConfig.seal_idle``, off by default): a ``SCHED_IDLE`` thread runs
only on a core nothing else wants and yields it as soon as the collector wakes; the sealer then keeps to
one thread (polars' and Arrow's pools of one), so it never takes both cores. Measured on this 2-core VM
while other work held the load at 6-12 (``bench_collect sustained``, interleaved with the nice +10
sealer): at 50 k msg/s with 8 MB segments p99 socket → committed 363-6,125 ms (12 runs) against
342-2,237 ms (11 runs), no better; at 200 k msg/s neither kept up. In one round the collector's
``fdatasync`` took p50 65 ms (p99 352) against 2-6 ms: a starved ``SCHED_IDLE`` sealer that holds the
file system's journal (inside a write, rename or fsync) holds up every ``fdatasync`` behind it. One
thread at nice +10 was worse than the default pools (p99 1,551-3,560 ms against 356-1,009 ms in the same
rounds). So the default stays ``nice`` +10 with the libraries' own pools; what made every seal cheaper
is in :func:`~perpscope.store.live_log.seal`.

Never starved for good (with ``seal_idle``): a ``SCHED_IDLE`` sealer on a machine whose cores are always
busy would never seal, and the log would grow. When the collector sees a backlog (:meth:`Sealer.hurry`,
called by the sink when a seal has run past its patience or a second segment is due behind it) the
sealer's threads are raised to the ordinary policy at ``nice`` +10 — in place where the system allows it
(root, ``CAP_SYS_NICE``, or an ``RLIMIT_NICE`` that reaches ``nice`` +10), else the sealer is killed and
restarted at that priority and the segment handed to it again (a kill is what the log's crash safety
already covers: the orphan's lock is taken anew, a part written twice is deduplicated). The next request
drops it back to ``SCHED_IDLE`` (always allowed).

Protocol: ``{"ready": true}`` on standard output once the sealer's imports are done (the collector
waits for it, up to :data:`READY_WAIT_S`, before it captures: those imports cost ~0.4 s of CPU, and
beside a capture's first second they took a third of a burst's rate); then one JSON request per line
on standard input (``{"root", "record", "path", "idle"}``), one JSON answer per line on standard output
(``{"rows", "files"}`` or ``{"error"}``). The segment's lock
passes with the file: the collector closes it, the sealer takes it as an orphan's, so a kill of either
at any point leaves what :func:`~perpscope.store.live_log.seal_orphans` already handles. The sealer
exits at the end of its input (the collector stopped or died).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import perpscope
from perpscope.core.errors import StoreError

#: How much lower (``nice`` steps) the sealer runs than the collector that started it, when it is not
#: idle-scheduled (the system has no ``SCHED_IDLE``, or a backlog raised it).
SEALER_NICE = 10
#: The sealer's flag for starting idle-scheduled.
IDLE_FLAG = "--idle"
#: How long (s) the collector waits for a sealer it starts to finish its imports before capturing
#: (a machine too busy to import in time: the capture starts anyway, the imports run beside it).
READY_WAIT_S = 10.0
#: The sealer's first line: its imports are done.
READY = {"ready": True}


def _set_policy(idle: bool, pid: int | None = None) -> bool:
    """Every thread of the process ``pid`` (default this one) idle-scheduled, or back to the ordinary
    policy (its ``nice`` kept); False where the system refuses or has no such policy."""
    policy = getattr(os, "SCHED_IDLE", None) if idle else getattr(os, "SCHED_OTHER", None)
    if policy is None or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid or os.getpid()}/task")]
    except OSError:  # no /proc: this thread only (the sealer's own, before it starts any other)
        tids = [0] if pid is None else [pid]
    try:
        for tid in tids:
            with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                os.sched_setscheduler(tid, policy, os.sched_param(0))
    except (PermissionError, OSError):
        return False
    return True


class Sealer:
    """The collector's side: starts the sealer process (:meth:`start`, or at the first seal) and hands
    it one segment at a time (the collector seals one segment at a time).

    ``idle``: the sealer runs idle-scheduled on one thread (see the module notes); False (the
    default): at ``nice`` +10 with the libraries' thread pools.
    """

    def __init__(self, idle: bool = False) -> None:
        self.idle = idle
        self.proc: asyncio.subprocess.Process | None = None
        #: when the segment being sealed was handed over (monotonic s), None when none is
        self.since: float | None = None
        #: seals hurried (:meth:`hurry`): raised in place, or the sealer restarted
        self.hurried = 0
        self._restart = False  # the sealer was killed by :meth:`hurry`: restart it, send the segment again
        self._raised = False  # this seal was hurried already

    async def seal(self, root: Path, record: str, path: Path) -> tuple[int, tuple[Path, ...]]:
        """Seal the closed segment at ``path``; returns the rows sealed and the parts written."""
        self.since, self._raised = time.monotonic(), False
        try:
            while True:
                # a sealer restarted by :meth:`hurry` seals this segment at ``nice`` +10, not idle
                idle, self._restart = self.idle and not self._restart, False
                proc = await self.start(idle=idle)
                req = {"root": str(root), "record": record, "path": str(path), "idle": idle}
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write((json.dumps(req) + "\n").encode())
                await proc.stdin.drain()
                line = await proc.stdout.readline()
                if line and json.loads(line) == READY:  # a sealer not waited for (started here)
                    line = await proc.stdout.readline()
                if line:
                    break
                self.proc = None
                code = await proc.wait()
                if not self._restart:
                    raise StoreError(
                        f"the sealer process exited (code {code}); {path} stays for the next seal"
                    )
        finally:
            self.since = None
        answer = json.loads(line)
        if "error" in answer:
            raise StoreError(answer["error"])
        return int(answer["rows"]), tuple(Path(f) for f in answer["files"])

    async def start(self, idle: bool | None = None) -> asyncio.subprocess.Process:
        """The sealer process, started if it is not running (its imports then run while nothing waits
        for it: the collector starts it before it captures)."""
        if self.proc is None or self.proc.returncode is not None:
            # the same perpscope as this process's, whatever the caller's working folder
            src = str(Path(perpscope.__file__).resolve().parents[1])
            paths = [src, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
            flags = [IDLE_FLAG] if (self.idle if idle is None else idle) else []
            if self.idle:  # one thread in polars' pool (read when polars is imported; Arrow's in main)
                env["POLARS_MAX_THREADS"] = "1"
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "perpscope.store.sealer",
                *flags,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=env,
            )
        return self.proc

    async def ready(self, timeout_s: float = READY_WAIT_S) -> bool:
        """Start the sealer and wait until its imports are done (its first line), at most ``timeout_s``;
        False when it did not say so in time (its line is then read before its first answer)."""
        proc = await self.start()
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout_s)
        except TimeoutError:
            return False  # the line stays in the stream's buffer for :meth:`seal` to skip
        if not line:
            return False  # it exited: the first seal restarts it and says why
        if json.loads(line) != READY:
            raise StoreError(f"the sealer process began with {line!r}, not its ready line")
        return True

    def overdue(self, patience_s: float) -> bool:
        """True when the segment being sealed was handed over more than ``patience_s`` ago."""
        return self.since is not None and time.monotonic() - self.since > patience_s

    def hurry(self) -> bool:
        """Raise a seal in progress out of ``SCHED_IDLE`` (the sink calls this when a backlog builds):
        the sealer's threads to the ordinary policy where allowed, else the sealer killed, to be
        restarted at ``nice`` +10 with the same segment. True when something was done."""
        proc = self.proc
        if self._raised or not self.idle or self.since is None or proc is None or proc.returncode is not None:
            return False
        self.hurried += 1
        self._raised = True
        if not _set_policy(False, proc.pid):
            self._restart = True
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        return True

    async def close(self) -> None:
        """End the sealer's input and wait for it to exit."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()
            await proc.wait()


def main() -> None:
    """The sealer process: seal each requested segment until the input ends."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(SEALER_NICE)
    if IDLE_FLAG in sys.argv[1:]:  # before an import starts a thread: threads inherit the policy
        _set_policy(True)
    import pyarrow as pa

    from perpscope.store.live_log import seal_path

    if os.environ.get("POLARS_MAX_THREADS") == "1":  # the idle sealer's one thread (Sealer.start)
        pa.set_cpu_count(1)
        pa.set_io_thread_count(1)
    sys.stdout.write(json.dumps(READY) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        try:
            req = json.loads(line)
            if req.get("idle"):  # raised for a backlog (in place or by a restart): idle again
                _set_policy(True)
            rows, files = seal_path(req["root"], req["record"], req["path"])
            answer: dict[str, object] = {"rows": rows, "files": [str(f) for f in files]}
        except Exception as exc:  # answered, not raised: the collector records it and goes on
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
