"""The environment a batch worker process starts with (its allocators), for every batch runner.

A worker builds one partition's panel and regimes after another. Each panel is a few hundred MB of
columns, many of them numpy arrays that polars keeps without copying (the compiled panel and regime
passes write them). By default glibc's malloc maps each array above 128 kB afresh and gives it back on
free, and jemalloc (polars' allocator) returns dirty pages after 10 s: every partition then faults in
its memory page by page again (about 14 k page faults, some 20 ms, per 4-symbol chunk of a year of 5m
bars, measured in ``benchmarks/bench_metrics.py``), and any array above 32 MiB is mapped afresh
whatever the threshold. With these settings a worker reuses the previous
partition's memory instead; its resident size stays at its largest partition's, which a worker reaches
anyway.

The variables are read when a process starts (glibc at its first allocation, polars' jemalloc when
polars loads), so they are set for processes about to be spawned: the LocalCluster's workers
(:func:`perpscope.cluster.runner.connect`, through :func:`batch_worker_environ`) and the benchmark's
worker processes. A scheduler someone runs (``dask worker …``) starts its workers with
its own environment; set these there too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

#: Environment variables of a batch worker process, set before it starts.
BATCH_WORKER_ENV: dict[str, str] = {
    # jemalloc, polars' buffers: keep freed pages for reuse (no decay back to the system)
    "_RJEM_MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1",
    # glibc malloc, numpy's arrays: up to 32 MiB (its largest threshold) from the heap, not a fresh map
    "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),
    # ... and the heap's free top kept, not returned (Dask's default returns it at 64 kB)
    "MALLOC_TRIM_THRESHOLD_": str(2**40),
    # ... and no array mapped on its own at all: 32 MiB is glibc's largest threshold, and above it each
    # array was a fresh map, faulted in page by page and unmapped when freed. classify's float block of
    # a chunk (20 columns × 420 k bars, 67 MB) was one: 16 k faults per chunk, or with numpy's huge-page
    # advice some 32 huge pages zeroed (and compacted for: up to 0.15 s of system time in one chunk);
    # from the heap it reuses the previous chunk's memory (issue 20, benchmarks/bench_metrics.py)
    "MALLOC_MMAP_MAX_": "0",
}


def spawn_environ(current: Mapping[str, str]) -> dict[str, str]:
    """The variables to set in a process's environment (``current``) before it spawns batch workers.

    jemalloc keeps the last value of each option in ``_RJEM_MALLOC_CONF``, and polars, when it loads
    (in this process already, and again in each worker), puts its own defaults in front of what it
    finds there: so ours are appended to what ``current`` holds, and stay last in the worker."""
    out = dict(BATCH_WORKER_ENV)
    key = "_RJEM_MALLOC_CONF"
    if current.get(key):
        out[key] = f"{current[key]},{BATCH_WORKER_ENV[key]}"
    return out


@contextmanager
def batch_worker_environ() -> Iterator[None]:
    """Within this block, processes spawned from this one start with :data:`BATCH_WORKER_ENV` (this
    process's environment holds it, and is restored after; a worker restarted by Dask meanwhile gets it
    too). Dask reads ``distributed.nanny.pre-spawn-environ`` only for variables this process does not
    already hold, and polars has set ``_RJEM_MALLOC_CONF`` here on import, hence the environment itself."""
    saved = {k: os.environ.get(k) for k in BATCH_WORKER_ENV}
    os.environ.update(spawn_environ(os.environ))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
