"""A live collector's sealer: a process of its own, at a lower scheduling priority, that seals closed log
segments into Parquet parts (:func:`perpscope.store.live_log.seal`) while the collector keeps capturing.

Why a process: a seal writes a segment into Parquet (~0.45 s of CPU for 32 MB). In a thread of the
collector it shares the GIL and the libraries' thread pools with the event loop, and the rows flushed
meanwhile waited: at 200 k msg/s, p99 socket → committed 175 ms while a seal ran against 21 ms otherwise
(``bench_collect trace``); with no seal during the run the p99 was 9-10 ms. A lower-priority thread alone
did not help (p99 74-84 ms): the work runs in polars' and Arrow's own threads.

Protocol: one JSON request per line on standard input (``{"root", "record", "path"}``), one JSON answer
per line on standard output (``{"rows", "files"}`` or ``{"error"}``). The segment's lock passes with the
file: the collector closes it, the sealer takes it as an orphan's, so a kill of either at any point
leaves what :func:`~perpscope.store.live_log.seal_orphans` already handles. The sealer exits at the end
of its input (the collector stopped or died).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path

import perpscope
from perpscope.core.errors import StoreError

#: How much lower (``nice`` steps) the sealer runs than the collector that started it.
SEALER_NICE = 10


class Sealer:
    """The collector's side: starts the sealer process at the first seal and hands it one segment at a
    time (the collector seals one segment at a time)."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None

    async def seal(self, root: Path, record: str, path: Path) -> tuple[int, tuple[Path, ...]]:
        """Seal the closed segment at ``path``; returns the rows sealed and the parts written."""
        proc = await self._started()
        assert proc.stdin is not None and proc.stdout is not None
        req = {"root": str(root), "record": record, "path": str(path)}
        proc.stdin.write((json.dumps(req) + "\n").encode())
        await proc.stdin.drain()
        line = await proc.stdout.readline()
        if not line:
            self.proc = None
            code = await proc.wait()
            raise StoreError(f"the sealer process exited (code {code}); {path} stays for the next seal")
        answer = json.loads(line)
        if "error" in answer:
            raise StoreError(answer["error"])
        return int(answer["rows"]), tuple(Path(f) for f in answer["files"])

    async def _started(self) -> asyncio.subprocess.Process:
        if self.proc is None or self.proc.returncode is not None:
            # the same perpscope as this process's, whatever the caller's working folder
            src = str(Path(perpscope.__file__).resolve().parents[1])
            paths = [src, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "perpscope.store.sealer",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=env,
            )
        return self.proc

    async def close(self) -> None:
        """End the sealer's input and wait for it to exit."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()
            await proc.wait()


def main() -> None:
    """The sealer process: seal each requested segment until the input ends."""
    from perpscope.store.live_log import seal_path

    with contextlib.suppress(OSError, AttributeError):
        os.nice(SEALER_NICE)
    for line in sys.stdin:
        req = json.loads(line)
        try:
            rows, files = seal_path(req["root"], req["record"], req["path"])
            answer: dict[str, object] = {"rows": rows, "files": [str(f) for f in files]}
        except Exception as exc:  # answered, not raised: the collector records it and goes on
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
