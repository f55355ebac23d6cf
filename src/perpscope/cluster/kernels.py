"""Which packages' compiled kernels each batch job calls, so a worker can load them from numba's cache
while its first task reads its inputs (:func:`perpscope.core.kernel_cache.start_loading`; issue 20).

A light module (no Dask, no computation imported): the benchmark's worker processes read it too. A
package missing here only makes its kernels load at their first call, as they did before.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The packages whose kernels a job (a key of :data:`perpscope.cluster.tasks.DATASETS`) calls: the panel
#: (``metrics``), the panel and the regime labels (``regimes``), the panel and the heatmap's models
#: (``calibrate``); a study reaches most computations.
JOB_KERNELS: dict[str, tuple[str, ...]] = {
    "metrics": ("perpscope.metrics",),
    "regimes": ("perpscope.metrics", "perpscope.regimes"),
    "calibrate": ("perpscope.metrics", "perpscope.heatmap"),
    "evaluate": ("perpscope.metrics", "perpscope.regimes", "perpscope.heatmap", "perpscope.evaluate"),
}


def kernel_packages(jobs: Iterable[str]) -> tuple[str, ...]:
    """The packages whose kernels ``jobs`` call, each once, in a stable order (unknown jobs: none)."""
    out: dict[str, None] = {}
    for job in jobs:
        out.update(dict.fromkeys(JOB_KERNELS.get(job, ())))
    return tuple(out)
