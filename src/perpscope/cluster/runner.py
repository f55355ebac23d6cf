"""Running batch tasks here or on a Dask cluster, reporting each finished task as it finishes.

``cluster`` is None (this process, one task after another, as perpscope always ran), ``local[N]`` (a
``distributed.LocalCluster`` of N single-threaded worker processes, started and stopped around the
batch) or a scheduler address (``tcp://host:8786``, a cluster someone runs: ``dask scheduler`` and
``dask worker tcp://host:8786`` on each machine). A worker that dies mid-task is replaced by the
scheduler, which reruns its tasks elsewhere; tasks are idempotent, so the result is the same.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from perpscope.cluster.tasks import Task, TaskResult, run_task

#: ``local[N]``: a LocalCluster of N workers.
_LOCAL = re.compile(r"^local\[(\d+)\]$")

OnDone = Callable[[TaskResult], None]


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
    # one thread per worker: the computations release the GIL little, processes give the parallelism
    with (
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
    if client is None and cluster is None:
        out = []
        for t in tasks:
            out.append(run_task(t))
            if on_done:
                on_done(out[-1])
        return out
    if client is not None:
        return _on_client(client, tasks, on_done)
    with connect(str(cluster)) as c:
        return _on_client(c, tasks, on_done)


def _on_client(client: Any, tasks: Sequence[Task], on_done: OnDone | None) -> list[TaskResult]:
    from distributed import as_completed

    futures = client.map(run_task, list(tasks), key=[t.key for t in tasks], retries=2)
    index = {f.key: i for i, f in enumerate(futures)}
    out: list[TaskResult | None] = [None] * len(futures)
    for fut in as_completed(futures):
        res = fut.result()
        out[index[fut.key]] = res
        if on_done:
            on_done(res)
    return [r for r in out if r is not None]
