"""The sealer process with each phase of a seal timed, for :mod:`benchmarks.collect_trace` only.

``python -m benchmarks.seal_phases`` runs :func:`perpscope.store.sealer.main` after wrapping, in this
process only, the calls a seal makes (:func:`perpscope.store.live_log.seal`): ``decode`` (the segment
read and decoded), ``prepare`` (conformed and deduplicated as a part stores it), ``encode`` (the
Parquet file written), ``fsync`` (every ``fsync``/``fdatasync``: the part's and its folder's),
``rename`` and ``delete`` (the segment unlinked). Each call appends ``phase start_ns end_ns cpu_ns``
(wall clock, ns; the calling thread's CPU) to the file named by :data:`PHASES_ENV`, so the trace can
tag each flush of the collector by the phase a seal was in.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

#: The file the phases are appended to (one line per call).
PHASES_ENV = "PERPSCOPE_SEAL_PHASES"


def _timed(phase: str, fn: Callable[..., Any], out: Any) -> Callable[..., Any]:
    def timed(*a: Any, **k: Any) -> Any:
        t0, c0 = time.time_ns(), time.thread_time_ns()
        try:
            return fn(*a, **k)
        finally:
            out.write(f"{phase} {t0} {time.time_ns()} {time.thread_time_ns() - c0}\n")
            out.flush()

    return timed


def install(path: str) -> None:
    """Wrap the seal's calls in this process (see the module docstring)."""
    from pathlib import Path

    from perpscope.store import commit, lake, live_log, parts

    out = open(path, "a", buffering=1)  # noqa: SIM115  # open for the process's life
    # the segment's decoding (an older checkout, PERPSCOPE_BASELINE_SRC, has only read_segment)
    name = "segment_frame" if hasattr(live_log, "segment_frame") else "read_segment"
    setattr(live_log, name, _timed("decode", getattr(live_log, name), out))
    parts.prepared = _timed("prepare", parts.prepared, out)
    lake.write_parquet = _timed("encode", lake.write_parquet, out)
    os.fsync = _timed("fsync", os.fsync, out)
    os.fdatasync = _timed("fsync", os.fdatasync, out)
    os.replace = _timed("rename", os.replace, out)
    Path.unlink = _timed("delete", Path.unlink, out)  # type: ignore[method-assign]
    assert commit.fsync_dir  # it calls os.fsync, wrapped above


def main() -> None:
    path = os.environ.get(PHASES_ENV)
    if path:
        install(path)
    from perpscope.store import sealer

    sealer.main()


if __name__ == "__main__":
    main()
