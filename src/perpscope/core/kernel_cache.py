"""numba's on-disk cache of perpscope's compiled kernels: whether it holds a kernel (so a command can say
before a first run that it will compile, tens of seconds once per machine and perpscope version, instead
of sitting silent), and loading every kernel it holds before the first call needs it.

numba has no public call for either: both read the dispatcher's cache index (numba 0.68's
``FunctionCache._cache_file``: ``_index_path``, the ``.nbi`` file it writes beside the sources or under
``$NUMBA_CACHE_DIR``, and ``_load_index()``, its entries keyed by signature). Anything unexpected gives
``None`` (unknown) or loads nothing, never an error.

Why load ahead (issue 20): a process's first call of a kernel loads it from the cache, and the first load
of all also sets numba's compiler up (its typing and target registries, scipy's BLAS); for a batch worker
that is some 0.35-0.45 s of CPU (0.2-0.3 s of set-up, 64 kernels at 2 ms) inside its first partition.
With :func:`start_loading` the set-up is done when the worker starts and the kernels load in a thread
while it reads its first inputs: they are there when the computation reaches them.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def kernel_cached(dispatcher: Any) -> bool | None:
    """True when ``dispatcher`` (an ``@njit(cache=True)`` function) has a cache index on disk, False when
    it has none (its first call compiles), None when this numba does not say."""
    index = getattr(getattr(getattr(dispatcher, "_cache", None), "_cache_file", None), "_index_path", None)
    return os.path.exists(index) if isinstance(index, str) else None


def cached_dispatchers(packages: Sequence[str]) -> list[Any]:
    """The cache-enabled kernels (``@njit(cache=True)`` dispatchers) defined at module level in the
    modules of ``packages`` (dotted names, e.g. ``perpscope.metrics``) that this process has imported."""
    from numba.core.dispatcher import Dispatcher

    found: dict[int, Any] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not any(name == p or name.startswith(p + ".") for p in packages):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Dispatcher) and getattr(value, "_cache", None) is not None:
                found[id(value)] = value
    return list(found.values())


def load_cached(dispatcher: Any) -> int:
    """Load every compiled version of ``dispatcher`` that numba's cache holds for this machine and this
    source, as its first calls would (``Dispatcher.compile`` reads the cache first); nothing is compiled:
    a signature whose cache entry does not match this source and machine is left alone. Returns how
    many were loaded."""
    cache = getattr(dispatcher, "_cache", None)
    load_index = getattr(getattr(cache, "_cache_file", None), "_load_index", None)
    index_key = getattr(cache, "_index_key", None)
    if load_index is None or index_key is None:
        return 0
    try:
        entries = list(load_index())  # {} when there is no index or it is stale (another source)
        codegen = dispatcher.targetctx.codegen()
        wanted = [key[0] for key in entries if key == index_key(key[0], codegen)]
    except Exception:  # a cache laid out otherwise (another numba): load nothing
        return 0
    for sig in wanted:
        dispatcher.compile(sig)  # from the cache: the entry is there for exactly this key
    return len(wanted)


@dataclass
class KernelLoad:
    """Kernels loading in a background thread (:func:`start_loading`): how many were loaded, and when
    the loading started and ended (``time.perf_counter()``; ``ended`` None while it runs); ``error``:
    why it stopped short (the kernels then load at their first call)."""

    thread: threading.Thread | None = None
    started: float = field(default_factory=time.perf_counter)
    loaded: int = 0
    ended: float | None = None
    error: BaseException | None = None

    def wait(self, timeout: float | None = None) -> KernelLoad:
        """Wait for the loading to end (at most ``timeout`` seconds); returns self."""
        if self.thread is not None:
            self.thread.join(timeout)
        return self


def prepare_loading(packages: Sequence[str]) -> None:
    """Import ``packages`` and set numba's compiler up (its typing and target registries: it imports
    numba's library of implementations and scipy's BLAS), in the calling thread: what a first load would
    do, and the only step of loading that imports modules (two threads importing modules at once can fail
    in CPython: a Dask worker's loading thread importing a package while the worker unpickled a task
    that imports it raised ``KeyError`` in importlib)."""
    import importlib

    from numba.core.registry import cpu_target

    for p in packages:
        importlib.import_module(p)
    cpu_target.target_context.refresh()


def load_cached_kernels(packages: Sequence[str]) -> int:
    """Import ``packages`` and load every kernel of theirs that numba's cache holds (:func:`load_cached`);
    the number of compiled versions loaded. A cold cache loads nothing and compiles nothing: each kernel
    then compiles at its first call, as it would have."""
    prepare_loading(packages)
    return sum(load_cached(d) for d in cached_dispatchers(packages))


def start_loading(packages: Sequence[str]) -> KernelLoad:
    """:func:`prepare_loading` here, then :func:`load_cached` of each of the packages' kernels in a daemon
    thread: the caller goes on (reading its inputs) meanwhile. numba loads and compiles under one lock,
    so a kernel called before its turn is loaded by the caller, once. Never raises: a failure is kept in
    :attr:`KernelLoad.error` (loading ahead is an optimisation; the kernels then load at their first
    call, and a batch goes on)."""
    job = KernelLoad()
    try:
        prepare_loading(packages)
        kernels = cached_dispatchers(packages)
    except Exception as e:
        job.error, job.ended = e, time.perf_counter()
        return job

    def run() -> None:
        try:
            job.loaded = sum(load_cached(d) for d in kernels)
        except Exception as e:  # the computation loads what it needs itself
            job.error = e
        finally:
            job.ended = time.perf_counter()

    job.thread = threading.Thread(target=run, name="perpscope-kernel-load", daemon=True)
    job.thread.start()
    return job
