"""The Dask worker plugin that loads a batch's compiled kernels on every worker (issue 20).

Registered by :func:`perpscope.cluster.runner.map_tasks` before the tasks are sent: each worker, and
any worker that joins or is restarted later, runs :func:`perpscope.core.kernel_cache.start_loading`
when the plugin is set up, before the worker takes tasks: the packages imported and numba's compiler
set up there, in the worker's own thread, then the kernels loaded in a thread of their own, so the first
task finds them loaded (or loading) instead of loading them inside its computation.

Kept apart from :mod:`perpscope.cluster.kernels`, which must not import Dask.
"""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from perpscope.core.kernel_cache import KernelLoad, start_loading


class LoadKernels(WorkerPlugin):
    """Load the compiled kernels of ``packages`` (dotted names) from numba's cache on each worker."""

    #: registering the same packages again (the next batch on this cluster) does nothing more
    idempotent = True

    def __init__(self, packages: tuple[str, ...]) -> None:
        self.packages = packages
        self.name = "perpscope-kernels-" + ",".join(packages)
        self.load: KernelLoad | None = None  # on the worker, once set up

    def setup(self, worker: Any) -> None:
        # imports and numba's set-up here (no task runs yet); the loading thread imports nothing
        self.load = start_loading(self.packages)
