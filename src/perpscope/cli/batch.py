"""``--symbols`` / ``--cluster`` of ``metrics``, ``regimes``, ``heatmap calibrate`` and ``evaluate``: many
perps as one batch, here or on Dask.

Each (venue, perp) is a task (:mod:`perpscope.cluster`) whose result is written into the store as a
derived dataset; this module resolves the options, follows the tasks with a progress bar and prints
what each wrote. ``perpscope.cluster`` (and Dask) is imported only when a batch runs.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from perpscope.cli.common import console, err_console, fail, settings
from perpscope.core.time import interval_ms, parse_time_ms
from perpscope.store import Lake


def run_batch(
    ctx: typer.Context,
    lake: Lake,
    job: str,
    symbols: str,
    cluster: str | None,
    venue: str,
    start: str | None,
    end: str | None,
    every: str | None,
    options: tuple[tuple[str, Any], ...] = (),
) -> None:
    """Run ``job`` (a key of :data:`perpscope.cluster.tasks.DATASETS`) over the perps ``symbols``
    names, from ``start`` to ``end`` at ``every`` bars (None: the job's default); ``options`` go to
    every task (:class:`perpscope.cluster.tasks.Task`). Prints one line per task."""
    from perpscope.cluster.runner import parse_cluster, run_tasks
    from perpscope.cluster.symbols import select_symbols
    from perpscope.cluster.tasks import DATASETS, Task, TaskResult

    try:
        every_ms = interval_ms(every) if every else None
        lo = parse_time_ms(start) if start else None
        hi = parse_time_ms(end) if end else None
        if cluster is not None:
            parse_cluster(cluster)
    except ValueError as e:
        raise fail(str(e)) from e
    s = settings(ctx)
    location = s.url or str(lake.root.resolve())  # workers open the store by this (same path on each)
    parts = select_symbols(lake, symbols, venue)
    if not parts:
        raise fail(f"--symbols {symbols!r} names no perp with candles in the store (venue {venue})")
    tasks = [Task(job, location, v, c, every_ms, lo, hi, options) for v, c in parts]
    cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    where = cluster or "this process"
    with Progress(*cols, console=err_console()) as prog:
        bar = prog.add_task(f"{job} on {where}", total=len(tasks))

        def on_done(_: TaskResult) -> None:
            prog.advance(bar)

        results = run_tasks(tasks, cluster, on_done)
    table = Table(title=f"{job}: {len(tasks)} perps → {DATASETS[job]}/ in the store", title_justify="left")
    for name in ("venue", "symbol", "rows", "outcome"):
        table.add_column(name, justify="right" if name == "rows" else "left")
    for r in results:
        # the first sentence of why a perp wrote nothing (the whole message would fill the screen)
        why = r.error.split(". ")[0][:200] if r.error else None
        table.add_row(r.venue, r.canonical, f"{r.rows:,}", why or "written")
    console().print(table)
    failed = sum(r.error is not None for r in results)
    if failed:
        err_console().print(f"[yellow]{failed} of {len(results)} perps gave nothing to write (outcome)[/]")
