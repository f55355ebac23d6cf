"""Look-backs on the panel's bar grid, for every regime module.

The panel (:func:`perpscope.metrics.build_panel`) is a gapless grid per series, so a window of ``w`` ms
is ``w / step`` rows: look-backs are row shifts. A panel with gaps (rows filtered out) falls back to
time-based as-of joins, which give the same numbers, slower.

:func:`prepare` sorts the panel once and numbers its series (:data:`SID`, a sorted integer column):
windows run ``.over(SID)``, which on a column flagged sorted is a slice per series, about ten times
cheaper than grouping by the (venue, canonical) strings.

A batch that runs every regime step on one chunk prepares the same frames several times (``classify``,
``circuit_breakers`` and ``flow_hierarchy`` each prepare the panel; ``episodes``, ``treadmill`` and
``circuit_breakers`` the labels). Inside :func:`shared_preparation`, :func:`numbered`, :func:`prepare`
and :func:`remembered` remember their answers per frame object (the block holds those frames), so each
frame is numbered once. The key is the frame's identity, checked on height and schema; polars can still
change a frame in place without changing either (``df[i, col] = x``, ``replace_column``), so the memo is
opt-in: the code that opens the block owns its frames and does not change them in place until it
closes, and the memo goes when the outermost block closes. Outside one, every call works afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import polars as pl

from perpscope.metrics.frames import KEYS, FrameError, is_sorted_by, ms, require, same_series, sort_series
from perpscope.metrics.grid_windows import as_float, grid_sum, series_starts, to_series
from perpscope.metrics.rolling import regular_step
from perpscope.metrics.string_runs import run_starts

T = TypeVar("T")
_LAG = "_lag_ts"
#: Series number (1, 2, … in (venue, canonical) order) that :func:`prepare` adds; flagged sorted.
SID = "_sid"


def prepare(panel: pl.DataFrame, what: str) -> tuple[pl.DataFrame, int | None]:
    """``panel`` sorted by series and time with a series number :data:`SID`, and its bar step (ms)
    when it is a gapless grid. Callers drop :data:`SID` from what they return."""
    require(panel, ["venue", "canonical", "ts_ms"], what)
    if panel.is_empty():
        raise FrameError(f"{what}: the panel is empty; build it over a range the store holds data for")
    df = numbered(panel)
    got = _entry(panel)
    if got is not None and got.step is not _UNKNOWN:
        return df, got.step  # type: ignore[return-value]
    step = _grid_step(df)
    _remember_numbered(panel, df, step)
    return df, step


def numbered(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` sorted by series and time (rows already in that order are not sorted again), with
    :data:`SID`; unlike :func:`prepare` it takes any frame with ``venue, canonical, ts_ms``, even empty."""
    got = _entry(df)
    if got is not None and got.frame is not _UNKNOWN:
        return df if got.frame is None else got.frame  # type: ignore[return-value]
    out = _numbered(df.drop(SID, strict=False))
    out = out if _in_order(out) else _numbered(out.drop(SID).sort([*KEYS, "ts_ms"]))
    _remember_numbered(df, out, _UNKNOWN)
    return out


_UNKNOWN = object()  # a step not worked out yet (numbered, not prepared)


@dataclass
class _Entry:
    """What was worked out of one frame inside a :func:`shared_preparation` block."""

    source: pl.DataFrame  # held by the block, so its ``id`` names no other frame until the block ends
    height: int
    columns: list[str]  # its schema, as the names and the types in order (see _entry)
    dtypes: list[pl.DataType]
    frame: object  # numbered(source): a frame, None where that is the source itself, or _UNKNOWN
    step: object  # prepare's step (int or None), or _UNKNOWN
    extras: dict[str, object]  # remembered(source, name, …)


#: The open block's entries by frame id (None outside a block): a context variable, so each thread
#: and task has its own and needs no lock.
_MEMO: ContextVar[dict[int, _Entry] | None] = ContextVar("perpscope_regimes_shared_preparation", default=None)


@contextmanager
def shared_preparation() -> Iterator[None]:
    """Within this block the regime steps share one numbered frame per input frame object (and what
    :func:`remembered` works out), e.g. ``classify`` → ``episodes`` → ``treadmill`` →
    ``circuit_breakers`` → ``flow_hierarchy`` on one chunk. The caller must not change those frames in
    place inside the block. The block holds the frames it saw until its outermost level ends."""
    if _MEMO.get() is not None:  # nested: the outer block's memo serves
        yield
        return
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def _entry(df: pl.DataFrame) -> _Entry | None:
    memo = _MEMO.get()
    e = memo.get(id(df)) if memo is not None else None
    if e is None or e.source is not df or e.height != df.height:
        return None
    # the schema compared as two lists: a polars Schema is built and compared type by type in Python
    # (~0.1 ms for the labels' 51 columns, some twenty times a chunk); the lists, a fifth of that
    if e.columns != df.columns or e.dtypes != df.dtypes:
        return None
    return e


def _put(df: pl.DataFrame, frame: object, step: object) -> _Entry:
    """Record what is known of ``df`` (``frame``, ``step``), keeping what its entry already held; outside
    a block the entry is this call's only."""
    e = _entry(df)
    if e is None:
        e = _Entry(df, df.height, df.columns, df.dtypes, _UNKNOWN, _UNKNOWN, {})
        memo = _MEMO.get()
        if memo is not None:
            memo[id(df)] = e
    e.frame = frame if frame is not _UNKNOWN else e.frame
    e.step = step if step is not _UNKNOWN else e.step
    return e


def _remember_numbered(df: pl.DataFrame, out: pl.DataFrame, step: object) -> None:
    """Record ``out`` = numbered(``df``) (and its step), and that ``out`` is its own numbered frame."""
    _put(df, out if out is not df else None, step)
    if out is not df:
        _put(out, None, step)


def hand_over_numbering(frame: pl.DataFrame, sid: pl.Series, step: int | None) -> None:
    """Inside a :func:`shared_preparation` block, record that ``frame`` (a step's output whose rows are
    those of a numbered frame, in its order, with its keys and times: ``classify``'s labels of the
    panel) is numbered by that frame's series numbers ``sid`` on the grid ``step``: the steps reading
    ``frame`` next (``episodes``, ``treadmill``, ``circuit_breakers``) then do not number it again
    (3–5 ms per 4-symbol chunk, ``benchmarks/bench_metrics.py``). Outside a block, and where a key or a
    time is null (whose order :func:`numbered` checks its own way), nothing is recorded."""
    if _MEMO.get() is None or SID in frame.columns or sid.len() != frame.height:
        return
    if any(frame.get_column(c).null_count() for c in (*KEYS, "ts_ms")):
        return
    # what numbered(frame) returns for rows already in order: the frame with SID last, flagged sorted
    # (a sorted frame without null keys or times is in order: the runs of SID are those of the keys)
    _remember_numbered(frame, frame.with_columns(sid.alias(SID).set_sorted()), step)


def remembered(df: pl.DataFrame, name: str, make: Callable[[], T]) -> T:
    """``make()``, worked out once per frame object ``df`` and ``name`` inside a
    :func:`shared_preparation` block (the regime steps of one chunk read the same arrays of the same
    labels: the treadmill and the breakers); every call outside one. ``make`` must depend on ``df``
    only, and callers must not modify what it returns."""
    e = _entry(df) or _put(df, _UNKNOWN, _UNKNOWN)
    if name not in e.extras:
        e.extras[name] = make()
    return e.extras[name]  # type: ignore[return-value]


def _numbered(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with :data:`SID` numbering its runs of one (venue, canonical), flagged sorted."""
    if any(df.get_column(k).null_count() for k in KEYS):
        # a null key is a run of its own on every row (null is not equal to null here)
        return df.with_columns((~same_series(KEYS)).cum_sum().cast(pl.Int64).set_sorted().alias(SID))
    heads = _key_run_heads(df)
    if heads is not None:
        # a run of the pair starts where either key's run starts, found from the string views: 0.4 ms
        # per 4-symbol chunk (420 k rows) where the struct's run ids cost 2.7 ms
        sizes = np.diff(np.append(heads, df.height))
        sid = np.repeat(np.arange(1, heads.shape[0] + 1, dtype=np.int64), sizes)
        return df.with_columns(pl.Series(SID, sid, dtype=pl.Int64).set_sorted())
    # without nulls the same numbers from one pass over both keys: 1.6× faster on a 4-symbol chunk
    return df.with_columns((pl.struct(KEYS).rle_id().cast(pl.Int64) + 1).set_sorted().alias(SID))


def _key_run_heads(df: pl.DataFrame) -> np.ndarray | None:
    """The rows where a run of one (venue, canonical) begins (the union of each key's run starts), or
    None when a key is not a string column."""
    if df.height == 0 or any(df.schema[k] != pl.String for k in KEYS):
        return None
    return np.union1d(*(run_starts(df.get_column(k)) for k in KEYS)).astype(np.int64)


def _in_order(df: pl.DataFrame) -> bool:
    """True when ``df`` (numbered by :func:`_numbered`) is sorted by series then time: time rises
    within each run and the runs' keys rise (compared on each run's first row only: strings are costly,
    and a series split into two runs shows as keys that do not rise)."""
    if df.height < 2:
        return True
    # SID never falls, so "time rises within each run" is (SID, time) ascending (a compiled pass)
    if not is_sorted_by(df, [SID, "ts_ms"]):
        return False
    sid = df.get_column(SID).to_numpy()
    heads = np.concatenate(([0], np.flatnonzero(sid[1:] != sid[:-1]) + 1))
    return is_sorted_by(df.select(pl.col(*KEYS).gather(heads)), list(KEYS))


def _grid_step(df: pl.DataFrame) -> int | None:
    """:func:`~perpscope.metrics.rolling.regular_step` of a numbered frame by :data:`SID`, read from the
    arrays when time has no null (0.2 ms per 420 k rows where the expression costs 0.8 ms)."""
    ts = df.get_column("ts_ms").to_physical()
    if df.height < 2 or ts.dtype != pl.Int64 or ts.null_count():
        return regular_step(df, by=[SID])
    t, sid = ts.to_numpy(), df.get_column(SID).to_numpy()
    d = (t[1:] - t[:-1])[sid[1:] == sid[:-1]]  # the gaps within a series
    if d.shape[0] == 0:
        return None
    lo, hi = int(d.min()), int(d.max())
    return lo if lo == hi and lo > 0 else None


def series_slices(df: pl.DataFrame) -> list[tuple[int, int]]:
    """(offset, length) of each series' rows in a frame from :func:`prepare` (series are contiguous)."""
    # where the (integer, never null) number changes, on its array: a run-length encoding of the column
    # cost 0.9 ms per 420 k rows
    starts = series_starts(df, [SID]) if df.height else np.zeros(1, np.int64)
    return list(zip(starts[:-1].tolist(), np.diff(starts).tolist(), strict=True))


def first_known(frame: pl.DataFrame, columns: Sequence[str]) -> pl.Expr:
    """The first non-null value of each row among those of ``columns`` that ``frame`` has, as Float64
    (null where none has one): ``pl.coalesce`` of them, ending at the first column without nulls, from
    which every row takes its value (polars computes each argument of a coalesce in full)."""
    got: list[pl.Expr] = []
    for c in columns:
        if c in frame.columns:
            got.append(pl.col(c).cast(pl.Float64))
            if frame.get_column(c).null_count() == 0:
                break
    if not got:
        return pl.lit(None, pl.Float64)
    return got[0] if len(got) == 1 else pl.coalesce(got)


def rows_in(window_ms: int, step: int) -> int:
    """Bars in a window of ``window_ms`` on a grid of ``step`` (at least 1)."""
    return max(1, -(-window_ms // step))


def lagged(df: pl.DataFrame, cols: Sequence[str], window_ms: int, step: int | None) -> pl.DataFrame:
    """``df`` with ``<col>_lag`` = the value of ``col`` at the bar ``window_ms`` earlier.

    On a gapless grid that is ``n = window / step`` rows back within the series; otherwise the last
    bar opening at or before ``t − window`` (an as-of join). Null before a series has that history.
    ``df`` comes from :func:`prepare`.
    """
    if step is not None:
        n = rows_in(window_ms, step)
        same = pl.col(SID) == pl.col(SID).shift(n)  # sorted, contiguous series: n rows back, same series
        return df.with_columns([pl.when(same).then(pl.col(c).shift(n)).alias(f"{c}_lag") for c in cols])
    right = df.select(*KEYS, pl.col("ts_ms").alias(_LAG), *[pl.col(c).alias(f"{c}_lag") for c in cols])
    left = df.with_columns((ms("ts_ms") - window_ms).cast(pl.Int64).cast(df.schema["ts_ms"]).alias(_LAG))
    out = left.sort(_LAG).join_asof(
        right.sort(_LAG), on=_LAG, by=list(KEYS), strategy="backward", check_sortedness=False
    )
    return sort_series(out.drop(_LAG), list(KEYS)).with_columns(pl.col(SID).set_sorted())


def with_window_sums(
    df: pl.DataFrame, sums: Mapping[str, str], window_ms: int, step: int | None
) -> pl.DataFrame:
    """``df`` (from :func:`prepare`) with, per ``column → name`` of ``sums``, the sum of the column over
    the bars opening in ``(t − window, t]`` of each series (nulls skipped; null where all are null).

    On a gapless grid that is the last ``window / step`` rows, summed by a compiled sliding sum
    (:func:`perpscope.metrics.grid_windows.grid_sum`); otherwise a time window per series.
    """
    if step is None:
        w = f"{window_ms}ms"
        return df.with_columns(
            pl.col(c).rolling_sum_by("ts_ms", w, min_samples=1).over(SID).alias(name)
            for c, name in sums.items()
        )
    starts, n = series_starts(df, [SID]), rows_in(window_ms, step)
    return df.with_columns(to_series(name, grid_sum(as_float(df, c), starts, n)) for c, name in sums.items())


def with_window_any(df: pl.DataFrame, col: str, name: str, window_ms: int, step: int | None) -> pl.DataFrame:
    """``df`` with ``name`` = True where ``col`` was true on any bar opening in ``(t − window, t]``
    (null counts as false)."""
    hits = f"_{name}_hits"
    df = df.with_columns(pl.col(col).fill_null(False).cast(pl.Float64).alias(hits))
    return (
        with_window_sums(df, {hits: hits}, window_ms, step)
        .with_columns((pl.col(hits) > 0).alias(name))
        .drop(hits)
    )
