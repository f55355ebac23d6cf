"""Backfill: page a venue's REST history into the store, within its limits, resumably.

For each (stream, symbol) job: clip the requested range to what the venue serves (saying so, and
pointing to the public archive where one exists), resume from the job's checkpoint, request pages
through the venue client (which spends the shared token-bucket rate budget), buffer the parsed frames
and write them to the store in batches, saving the checkpoint only *after* each write, so a crash or
Ctrl-C re-fetches at most one unwritten batch and never skips one. Writes are idempotent, so overlap
is harmless.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import polars as pl

from perpscope.core.errors import PerpscopeError, VenueError
from perpscope.core.time import ms_to_iso
from perpscope.ingest.state import Checkpoint, Checkpoints
from perpscope.records import RecordType
from perpscope.store import Lake
from perpscope.venues.feeds import Capabilities, Page
from perpscope.venues.http import RegionBlocked

#: Rows buffered per job before a store write (a write rewrites the touched month files).
FLUSH_ROWS = 200_000


class HistorySource(Protocol):
    """What a venue client offers to the backfill (see the Binance client)."""

    venue: str
    capabilities: Capabilities

    def period_ms(self, stream: str, period: str | None) -> int | None: ...

    async def page(
        self, stream: str, symbol: str, start_ms: int, end_ms: int, period: str | None = None
    ) -> Page: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class BackfillJob:
    """One stream of one symbol over ``[start_ms, end_ms)``."""

    stream: str
    symbol: str
    period: str | None
    start_ms: int
    end_ms: int

    @property
    def label(self) -> str:
        return f"{self.stream}{':' + self.period if self.period else ''} {self.symbol}"


@dataclass(frozen=True)
class BackfillProgress:
    """Progress of one job: how far (ms) of the range is done, rows fetched and written so far."""

    job: BackfillJob
    done_ms: int
    total_ms: int
    rows_fetched: int
    rows_added: int
    pages: int
    finished: bool = False


@dataclass
class JobResult:
    job: BackfillJob
    pages: int = 0
    rows_fetched: int = 0
    rows_added: int = 0
    notes: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class BackfillReport:
    results: list[JobResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.error is None for r in self.results)

    @property
    def rows_added(self) -> int:
        return sum(r.rows_added for r in self.results)


ProgressFn = Callable[[BackfillProgress], None]


def parse_stream(text: str) -> tuple[str, str | None]:
    """``"open_interest:1h"`` → ``("open_interest", "1h")``; ``"funding"`` → ``("funding", None)``."""
    name, _, period = text.strip().partition(":")
    return name, (period or None)


def plan(
    caps: Capabilities,
    streams: Sequence[str],
    symbols: Sequence[str],
    since_ms: int,
    until_ms: int,
    now_ms: int,
) -> tuple[list[BackfillJob], list[str]]:
    """Jobs for ``streams`` × ``symbols`` clipped to what the venue serves, and notes on what was clipped.

    Raises
    ------
    ValueError
        Unknown stream or period, or an empty range.
    """
    if since_ms >= until_ms:
        raise ValueError(f"--since ({ms_to_iso(since_ms)}) must be before --until ({ms_to_iso(until_ms)})")
    jobs, notes = [], []
    until = min(until_ms, now_ms)
    for text in streams:
        name, period = parse_stream(text)
        spec = caps.history.get(name)
        if spec is None:
            raise ValueError(f"{caps.venue} has no history stream {name!r}; known: {', '.join(caps.history)}")
        if period and period not in spec.periods:
            raise ValueError(
                f"{name}: period must be one of {', '.join(spec.periods) or '(none)'}, got {period!r}"
            )
        if spec.periods and not period:
            period = spec.default_period
        start = since_ms
        if spec.max_age_ms is not None and start < now_ms - spec.max_age_ms:
            oldest = now_ms - spec.max_age_ms
            # first whole period after the cut-off, so the first page is not refused
            from perpscope.core.time import interval_ms

            step = interval_ms(period) if period else 1
            start = (oldest // step + 1) * step
            days = spec.max_age_ms // 86_400_000
            msg = (
                f"{caps.venue} serves {name} for the last {days} days only: "
                f"asked from {ms_to_iso(since_ms)}, "
                f"taking what exists from {ms_to_iso(start)}"
            )
            if spec.archive:
                msg += f"; for older data use {spec.archive}"
            notes.append(msg)
        if start >= until:
            notes.append(f"{name}: nothing to fetch in the range")
            continue
        for sym in symbols:
            jobs.append(BackfillJob(name, sym.strip().upper(), period, start, until))
    return jobs, notes


async def backfill(
    source: HistorySource,
    lake: Lake,
    data_dir: Path,
    jobs: Sequence[BackfillJob],
    *,
    progress: ProgressFn | None = None,
    concurrency: int = 4,
    flush_rows: int = FLUSH_ROWS,
) -> BackfillReport:
    """Run ``jobs`` against ``source``, writing to ``lake``; checkpoints under ``data_dir/_state``.

    A job failing (a venue error after retries) is reported and the others continue; a region block
    (HTTP 451) stops every job at once, since every request would get the same answer.
    """
    cps = Checkpoints(data_dir)
    report = BackfillReport()
    sem = asyncio.Semaphore(max(1, concurrency))
    blocked = asyncio.Event()
    cp_lock = asyncio.Lock()

    async def run(job: BackfillJob) -> JobResult:
        res = JobResult(job)
        async with sem:
            if blocked.is_set():
                res.error = "not run: the venue blocked this region"
                return res
            try:
                await _run_job(source, lake, cps, cp_lock, job, res, progress, flush_rows)
            except RegionBlocked as exc:
                blocked.set()
                res.error = str(exc)
            except (VenueError, PerpscopeError, ValueError) as exc:
                res.error = str(exc)
        return res

    report.results = list(await asyncio.gather(*(run(j) for j in jobs)))
    return report


async def _run_job(
    source: HistorySource,
    lake: Lake,
    cps: Checkpoints,
    cp_lock: asyncio.Lock,
    job: BackfillJob,
    res: JobResult,
    progress: ProgressFn | None,
    flush_rows: int,
) -> None:
    key = Checkpoints.key(source.venue, job.stream, job.symbol, job.period)
    start, origin = job.start_ms, job.start_ms
    cp = cps.get(key)
    if cp is not None and cp.from_ms <= start < cp.next_ms:
        start, origin = cp.next_ms, cp.from_ms
        res.notes.append(f"resumed at {ms_to_iso(start)} (checkpoint)")
    total = max(1, job.end_ms - job.start_ms)
    buf: dict[RecordType, list[pl.DataFrame]] = {}
    buffered = 0
    cur: int | None = start

    def emit(done_to: int, finished: bool = False) -> None:
        if progress:
            progress(
                BackfillProgress(
                    job,
                    min(total, done_to - job.start_ms),
                    total,
                    res.rows_fetched,
                    res.rows_added,
                    res.pages,
                    finished,
                )
            )

    async def flush(upto: int) -> None:
        nonlocal buffered
        for rt, frames in buf.items():
            frame = pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]
            if frame.height:
                if "source" in rt.columns:  # REST history: rest:<venue>
                    frame = frame.with_columns(
                        pl.concat_str(pl.lit("rest:"), pl.col("venue")).alias("source")
                    )
                w = await asyncio.to_thread(lake.write, rt, frame)
                res.rows_added += w.rows_added
        buf.clear()
        buffered = 0
        async with cp_lock:
            cps.put(key, Checkpoint(origin, upto))

    emit(start)
    while cur is not None and cur < job.end_ms:
        page = await source.page(job.stream, job.symbol, cur, job.end_ms, job.period)
        res.pages += 1
        res.rows_fetched += page.rows
        for rt, frame in page.frames.items():
            if frame.height:
                buf.setdefault(rt, []).append(frame)
                buffered += frame.height
        upto = page.next_ms if page.next_ms is not None else job.end_ms
        if buffered >= flush_rows or page.next_ms is None:
            await flush(upto)
        emit(upto)
        cur = page.next_ms
    if buf:
        await flush(job.end_ms)
    emit(job.end_ms, finished=True)
