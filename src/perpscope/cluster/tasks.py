"""One batch task: a computation over one (venue, perp) partition, its result written into the lake.

Tasks are plain picklable values and a module-level function, so any executor runs them: this process,
a process pool, or Dask workers on other machines (which open the lake by its location themselves).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from perpscope.assemble import StoreInputError
from perpscope.assemble.panel import market_panel
from perpscope.regimes import classify
from perpscope.store import open_lake

#: Computations a batch runs, and the derived dataset each writes (``<lake>/<dataset>/venue=/symbol=/``).
DATASETS = {"metrics": "panel", "regimes": "regimes"}


@dataclass(frozen=True)
class Task:
    """``job`` (``metrics`` or ``regimes``) of ``canonical`` on ``venue`` over ``[start_ms, end_ms)``
    (ms UTC; None: the panel's defaults) at ``every_ms`` bars, reading and writing the lake at
    ``location`` (a folder or ``s3://bucket/prefix``)."""

    job: str
    location: str
    venue: str
    canonical: str
    every_ms: int
    start_ms: int | None = None
    end_ms: int | None = None

    @property
    def key(self) -> str:
        """A readable, unique name for the scheduler (shown on the Dask dashboard)."""
        return f"{self.job}-{self.venue}-{self.canonical}-{self.every_ms}-{self.start_ms}-{self.end_ms}"


@dataclass(frozen=True)
class TaskResult:
    """What a task did: rows written to ``written`` (the dataset object), or why it wrote nothing."""

    venue: str
    canonical: str
    rows: int
    written: str | None = None
    error: str | None = None


def compute(task: Task) -> pl.DataFrame:
    """The task's result frame, read from the lake (no writing)."""
    if task.job not in DATASETS:
        raise ValueError(f"unknown batch job {task.job!r}; known: {', '.join(DATASETS)}")
    lake = open_lake(task.location)
    mp = market_panel(lake, task.venue, task.canonical, task.start_ms, task.end_ms, task.every_ms)
    if task.job == "metrics":
        return mp.panel
    return classify(mp.priced)


def run_task(task: Task) -> TaskResult:
    """Compute the task and replace its partition of the derived dataset with the result.

    A partition the lake cannot give inputs for (no candles in the range) is a result with an error,
    not an exception: one thin symbol never fails the batch.
    """
    try:
        frame = compute(task)
    except StoreInputError as e:
        return TaskResult(task.venue, task.canonical, 0, error=str(e))
    written = open_lake(task.location).write_derived(DATASETS[task.job], task.venue, task.canonical, frame)
    return TaskResult(task.venue, task.canonical, frame.height, written)
