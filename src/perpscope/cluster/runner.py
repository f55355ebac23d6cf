"""Running batch tasks here or on a Dask cluster, reporting each finished task as it finishes.

``cluster`` is None (this process, one task after another, as perpscope always ran), ``local[N]`` (a
``distributed.LocalCluster`` of N single-threaded worker processes, started and stopped around the
batch) or a scheduler address (``tcp://host:8786``, a cluster someone runs: ``dask scheduler`` and
``dask worker tcp://host:8786`` on each machine). A worker that dies mid-task is replaced by the
scheduler, which reruns its tasks elsewhere; tasks are idempotent, so the result is the same.

Each process that runs tasks loads the compiled kernels of the batch's jobs from numba's cache in a
thread as soon as it can (:mod:`perpscope.cluster.kernels`): this process before its first task, every
Dask worker when the batch starts (a worker plugin, so a worker that joins or is restarted later loads
them too), while the first task reads its inputs instead of inside its computation.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from perpscope.cluster.kernels import kernel_packages
from perpscope.cluster.tasks import Task, TaskResult, run_task
from perpscope.cluster.worker_env import batch_worker_environ
from perpscope.core.kernel_cache import start_loading

#: ``local[N]``: a LocalCluster of N workers.
_LOCAL = re.compile(r"^local\[(\d+)\]$")

OnDone = Callable[[TaskResult], None]
T = TypeVar("T")
R = TypeVar("R")


def parse_cluster(spec: str) -> tuple[str, int | str]:
    """``("local", N)`` or ``("scheduler", address)``; ValueError for anything else."""
    m = _LOCAL.match(spec.strip())
    if m:
        n = int(m.group(1))
        if n < 1:
            raise ValueError("local[N] needs at least one worker")
        return "local", n
    if re.match(r"^(tcp|tls|inproc|ucx)://\S+$", spec.strip()):
        return "scheduler", spec.strip()
    raise ValueError(f"--cluster must be local[N] or a scheduler address like tcp://host:8786, got {spec!r}")


@contextlib.contextmanager
def connect(spec: str) -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec`` (see :func:`parse_cluster`), closed (and a local cluster
    stopped) on exit."""
    from distributed import Client, LocalCluster

    kind, value = parse_cluster(spec)
    if kind == "scheduler":
        with Client(str(value)) as client:
            yield client
        return
    # one thread per worker: the computations release the GIL little, processes give the parallelism;
    # workers start with the batch allocator settings (cluster/worker_env.py)
    with (
        batch_worker_environ(),
        LocalCluster(
            n_workers=int(value), threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def run_tasks(
    tasks: Sequence[Task], cluster: str | None = None, on_done: OnDone | None = None, client: Any = None
) -> list[TaskResult]:
    """Run ``tasks``; results in the order of ``tasks``. ``on_done`` is called as each one finishes.

    ``client``: an already connected ``distributed.Client`` (instead of ``cluster``), e.g. a test's.
    """
    kernels = kernel_packages(t.job for t in tasks)
    return map_tasks(run_task, tasks, [t.key for t in tasks], cluster, on_done, client, kernels)


def map_tasks(
    fn: Callable[[T], R],
    items: Sequence[T],
    keys: Sequence[str],
    cluster: str | None = None,
    on_done: Callable[[R], None] | None = None,
    client: Any = None,
    kernels: Sequence[str] = (),
) -> list[R]:
    """``[fn(x) for x in items]`` here (``cluster`` and ``client`` None) or on Dask, one task per item
    named by ``keys`` (unique; shown on the dashboard), each retried up to twice on another worker if
    its worker dies — so ``fn`` must be idempotent. Results in the order of ``items``; ``on_done`` is
    called as each finishes. ``kernels``: packages whose compiled kernels ``fn`` calls, loaded from
    numba's cache in a thread of each process that runs tasks, while its first task reads its inputs."""
    if client is None and cluster is None:
        if kernels and items:
            start_loading(kernels)
        out = []
        for x in items:
            out.append(fn(x))
            if on_done:
                on_done(out[-1])
        return out
    if client is not None:
        return _on_client(client, fn, items, keys, on_done, kernels)
    with connect(str(cluster)) as c:
        return _on_client(c, fn, items, keys, on_done, kernels)


def _on_client(
    client: Any,
    fn: Callable[[T], R],
    items: Sequence[T],
    keys: Sequence[str],
    on_done: Callable[[R], None] | None,
    kernels: Sequence[str] = (),
) -> list[R]:
    from distributed import as_completed

    if kernels and items:
        from perpscope.cluster.kernel_plugin import LoadKernels

        # each worker starts loading now (and any worker that joins later, when it joins); the call
        # returns once every worker has started its loading thread
        client.register_plugin(LoadKernels(tuple(kernels)))
    futures = client.map(fn, list(items), key=list(keys), retries=2)
    index = {f.key: i for i, f in enumerate(futures)}
    out: list[R | None] = [None] * len(futures)
    for fut in as_completed(futures):
        res = fut.result()
        out[index[fut.key]] = res
        if on_done:
            on_done(res)
    return [r for r in out if r is not None]
