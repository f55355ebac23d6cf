"""One batch task: a computation over one (venue, perp) partition, its result written into the lake.

Tasks are plain picklable values and a module-level function, so any executor runs them: this process,
a process pool, or Dask workers on other machines (which open the lake by its location themselves).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import polars as pl

from perpscope.assemble.calibration import calibrate_on_store, calibration_rows
from perpscope.assemble.panel import market_panel
from perpscope.assemble.regime_reading import regime_reading
from perpscope.assemble.study_run import study_rows
from perpscope.core.errors import PerpscopeError
from perpscope.heatmap.calibration import CalibrationWindowError
from perpscope.store import open_lake

#: Computations a batch runs, and the derived dataset each writes (``<lake>/<dataset>/venue=/symbol=/``):
#: the metrics panel, the regime labels, a heatmap calibration's fit and test scores, a study's results.
DATASETS = {"metrics": "panel", "regimes": "regimes", "calibrate": "calibration", "evaluate": "studies"}


@dataclass(frozen=True)
class Task:
    """``job`` (a key of :data:`DATASETS`) of ``canonical`` on ``venue`` over ``[start_ms, end_ms)``
    (ms UTC; None: the panel's defaults) at ``every_ms`` bars (None: the finest stored, for
    ``calibrate``), reading and writing the lake at ``location`` (a folder or ``s3://bucket/prefix``).

    ``options``: the job's own settings as (name, value) pairs (``calibrate``: ``fit_to_ms``, ``model``,
    ``liq_venue``, ``oi_venue``; ``evaluate``: ``spec``, a :class:`~perpscope.evaluate.spec.StudySpec`).
    Every job's computation is a function of :mod:`perpscope.assemble`, which every worker imports: a
    task carries values only, never a function (and never one of the CLI's).
    """

    job: str
    location: str
    venue: str
    canonical: str
    every_ms: int | None
    start_ms: int | None = None
    end_ms: int | None = None
    options: tuple[tuple[str, Any], ...] = ()

    def option(self, name: str, default: Any = None) -> Any:
        """The value of option ``name`` (``default`` when absent)."""
        return dict(self.options).get(name, default)

    @property
    def key(self) -> str:
        """A readable, unique name for the scheduler (shown on the Dask dashboard)."""
        key = f"{self.job}-{self.venue}-{self.canonical}-{self.every_ms}-{self.start_ms}-{self.end_ms}"
        # two batches with other options on one cluster must not share keys (Dask would reuse results)
        return f"{key}-{zlib.crc32(repr(self.options).encode()):08x}" if self.options else key


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
    if task.job == "evaluate":
        return study_rows(lake, task.venue, task.canonical, task.option("spec"))
    if task.job == "calibrate":
        if task.start_ms is None or task.end_ms is None:
            raise ValueError("a calibrate task needs start_ms (fit from) and end_ms (test to)")
        sc = calibrate_on_store(
            lake,
            task.venue,
            task.canonical,
            (task.start_ms, int(task.option("fit_to_ms"))),
            task.end_ms,
            model=str(task.option("model", "oi-change")),
            every_ms=task.every_ms,
            liq_venue=task.option("liq_venue"),
            oi_venue=task.option("oi_venue"),
        )
        return calibration_rows(sc)
    if task.every_ms is None:
        raise ValueError(f"a {task.job} task needs every_ms")
    if task.job == "metrics":
        return market_panel(lake, task.venue, task.canonical, task.start_ms, task.end_ms, task.every_ms).panel
    # the labels ``perpscope regimes --what bars`` gives for the range: read with the days before it (its
    # first day is not "insufficient_data"); a label does not depend on the flows (they reach the reading
    # and the breakers, which a batch does not write), so they are not read here
    rr = regime_reading(
        lake, task.venue, task.canonical, task.start_ms, task.end_ms, task.every_ms, flows=False
    )
    return rr.bars()


def run_task(task: Task) -> TaskResult:
    """Compute the task and replace its partition of the derived dataset with the result.

    A partition the lake cannot give inputs for (no candles in the range, no liquidations to calibrate
    against, a study it cannot feed) is a result with an error, not an exception: one thin symbol
    never fails the batch.
    """
    try:
        frame = compute(task)
    except (PerpscopeError, CalibrationWindowError) as e:
        return TaskResult(task.venue, task.canonical, 0, error=str(e))
    written = open_lake(task.location).write_derived(DATASETS[task.job], task.venue, task.canonical, frame)
    return TaskResult(task.venue, task.canonical, frame.height, written)
