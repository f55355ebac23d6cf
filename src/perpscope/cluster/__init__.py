"""Batch work over many symbols, on one process or a Dask cluster (``--symbols`` / ``--cluster``).

Work is one task per (venue, canonical symbol) partition (:mod:`perpscope.cluster.tasks`): a task opens
the lake by its location (a folder every worker sees, or ``s3://…``), reads its own partitions through
:mod:`perpscope.assemble`, runs the computation and writes its result back into the lake as a derived
dataset (``panel/``, ``regimes/``), one object per partition, replaced whole — so a task run twice (a
retry after a worker died) leaves what one run leaves. :mod:`perpscope.cluster.runner` runs the tasks
in this process or on ``distributed`` (``local[N]`` starts a ``LocalCluster``; ``tcp://host:8786``
joins a running scheduler).

Only this package imports Dask: the computation packages do not know how they are scheduled (an
import-linter contract keeps it so).
"""
