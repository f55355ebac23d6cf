"""Row windows over gapless per-series grids, compiled: trailing z-score, rolling sum, rolling correlation.

The metrics panel (:func:`perpscope.metrics.build_panel`) is one gapless bar grid per series, its
series contiguous and sorted. On such a frame a window of ``w`` ms is a fixed number of rows, and the
window statistics the panel and the regimes need are running sums updated one row at a time. Written
as polars window expressions they cost one grouped pass per statistic and several temporary columns;
these numba loops do each in one pass over the rows, about 4–10× faster on a year of 5-minute bars
(``benchmarks/bench_metrics.py``). The polars forms stay in the callers for frames that are not a
gapless grid (time windows), and the tests hold the two equal.

Conventions shared by every kernel:

- ``starts`` are the row offsets where each series begins, plus the row count at the end
  (:func:`series_starts`); no window ever reaches across a series boundary;
- a missing value is NaN in and NaN out (callers convert polars nulls with :func:`as_float` and back
  with :func:`to_series`); NaN inputs are skipped like nulls, so a NaN never poisons a window;
- values are float64 in the caller's units; the outputs say theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from perpscope.core.jit import njit, read_only
from perpscope.metrics.frames import same_series

FloatArray = np.ndarray


def series_starts(df: pl.DataFrame, by: Sequence[str]) -> np.ndarray:
    """Row offsets of each series' first row in ``df`` (sorted by ``by``), then ``df.height`` (int64)."""
    if len(by) == 1 and df.height and df.schema[by[0]] == pl.Int64 and df.get_column(by[0]).null_count() == 0:
        # one integer key (the panel's series ids): where it changes, on the array (the expression
        # below cost 1 ms per 420 k rows)
        k = df.get_column(by[0]).to_numpy()
        return np.concatenate(([0], np.flatnonzero(k[1:] != k[:-1]) + 1, [k.shape[0]])).astype(np.int64)
    first = df.select((~same_series(by)).arg_true()).to_series().to_numpy()
    return np.append(first.astype(np.int64), np.int64(df.height))


def as_float(df: pl.DataFrame, col: str | pl.Expr) -> FloatArray:
    """A column (or expression) of ``df`` as a float64 array with NaN for null."""
    e = pl.col(col) if isinstance(col, str) else col
    s = df.select(e.cast(pl.Float64)).to_series()
    return s.fill_null(np.nan).to_numpy() if s.null_count() else s.to_numpy()


def to_series(name: str, values: FloatArray) -> pl.Series:
    """A kernel's output as a Float64 polars series, NaN read as null (no value)."""
    return pl.Series(name, values, dtype=pl.Float64, nan_to_null=True)


def finite_floats(s: pl.Series) -> FloatArray | None:
    """A Float64 column as an array with NaN for null, or None when it holds a NaN or an infinity: a
    kernel reading NaN as missing would take those for nulls, so the caller runs its polars form."""
    if s.dtype != pl.Float64:
        return None
    a = s.fill_null(np.nan).to_numpy() if s.null_count() else s.to_numpy()
    return a if int(np.isfinite(a).sum()) == s.len() - s.null_count() else None


#: ``numba.njit`` options of a compiled loop that allocates nothing (its caller passes every array), chosen
#: for numba's first compile, which a new user waits for: no reference counting (the counts of array
#: slices were a fifth of the regimes kernel's code) and no C entry point (nothing calls one); cached, the
#: GIL released, and the "numpy" error model (a division by zero gives inf or NaN and does not stop
#: vectorizing).
FLAT_LOOP: dict[str, Any] = {
    "cache": True,
    "nogil": True,
    "error_model": "numpy",
    "_nrt": False,
    "no_cfunc_wrapper": True,
}
#: :data:`FLAT_LOOP` for a loop only other compiled loops call: no Python entry point either (about
#: 0.05 s of a first compile each).
FLAT_HELPER: dict[str, Any] = FLAT_LOOP | {"no_cpython_wrapper": True}


#: Rows per block of :func:`grid_trailing_z`: its running sums for a block sit in the L1 cache
#: (3 × 8 × 256 bytes) while the scores are computed from them.
_Z_BLOCK = 256


def grid_trailing_z(x: FloatArray, starts: np.ndarray, n: int, min_samples: int) -> FloatArray:
    """:func:`_grid_trailing_z` on a read-only view of ``x`` (one compiled signature,
    :func:`perpscope.core.jit.read_only`)."""
    return _grid_trailing_z(read_only(x), starts, n, min_samples)


@njit(cache=True, nogil=True)
def _grid_trailing_z(x, starts, n, min_samples):  # type: ignore[no-untyped-def]  # numba
    """Z-score of each row against the previous ``n`` rows of its series (not itself).

    ``(x_i − mean) / std`` with the sample std (ddof = 1) of the non-missing values among rows
    ``i − n … i − 1``; NaN with fewer than ``max(min_samples, 2)`` of them, or where the window's variance
    is below 1e-10 of its mean square (a constant window, where rounding leaves the score meaningless;
    a near-constant window is recounted exactly, as the running sums can carry rounding noise).
    A window whose values are all equal has no score, whatever noise the sums carry: the row of the
    last change of value is tracked, so that is known exactly (a window equal to the series' first value
    has a mean square of rounding noise only, which the relative tests cannot tell from a spread).
    The sums are kept centred on the series' first value so they stay small (the same numbers as the
    polars running-sum form in :func:`perpscope.metrics.rolling.add_zscores`).

    Rows are taken in blocks of :data:`_Z_BLOCK`: the running sums of a block are one sequential loop
    (each row depends on the last), and its scores a second loop with no dependence between rows
    (:func:`_z_of_sums`), which the compiler turns into vector instructions: the four divisions and
    the square root of a score, most of the kernel's time as one scalar loop, run four rows at a time.
    """
    out = np.full(x.shape[0], np.nan)
    need = max(min_samples, 2)
    s1b = np.empty(_Z_BLOCK)  # running sums before each row of the block, centred on c0
    s2b = np.empty(_Z_BLOCK)
    cb = np.empty(_Z_BLOCK)  # their count (a float: the divisions take it so)
    okb = np.zeros(_Z_BLOCK, dtype=np.bool_)  # enough values, a spread, and x_i known
    for s in range(starts.shape[0] - 1):
        a, b = starts[s], starts[s + 1]
        c0 = np.nan
        for i in range(a, b):
            if not np.isnan(x[i]):
                c0 = x[i]
                break
        if np.isnan(c0):
            continue
        cnt, s1, s2 = 0, 0.0, 0.0
        last, changed = np.nan, a  # the last value entered, and the row where the value last changed
        for i0 in range(a, b, _Z_BLOCK):
            i1 = min(i0 + _Z_BLOCK, b)
            for i in range(i0, i1):
                if i - 1 >= a:  # the row before enters the window
                    v = x[i - 1]
                    if not np.isnan(v):
                        d = v - c0
                        cnt += 1
                        s1 += d
                        s2 += d * d
                        if not np.isnan(last) and v != last:
                            changed = i - 1
                        last = v
                j = i - 1 - n  # the row n + 1 back leaves it
                if j >= a:
                    v = x[j]
                    if not np.isnan(v):
                        d = v - c0
                        cnt -= 1
                        s1 -= d
                        s2 -= d * d
                k = i - i0
                s1b[k], s2b[k], cb[k] = s1, s2, cnt
                okb[k] = cnt >= need and not np.isnan(x[i]) and changed > max(a, i - n)
            recount = _z_of_sums(x[i0:i1], c0, s1b, s2b, cb, okb, out[i0:i1])
            if recount:
                for i in range(i0, i1):
                    k = i - i0
                    if okb[k]:
                        mean = s1b[k] / cb[k]
                        var = (s2b[k] - s1b[k] * mean) / (cb[k] - 1.0)
                        sq = s2b[k] / cb[k]
                        if 0.0 < var <= 1e-6 * sq:
                            # a near-constant window: a large value that entered and left the running
                            # sums can leave rounding noise bigger than the true variance, so recount
                            # the window exactly
                            m, t1 = 0, 0.0
                            for j2 in range(max(a, i - n), i):
                                if not np.isnan(x[j2]):
                                    m += 1
                                    t1 += x[j2] - c0
                            mean = t1 / m
                            t2, sq = 0.0, 0.0
                            for j2 in range(max(a, i - n), i):
                                if not np.isnan(x[j2]):
                                    d = x[j2] - c0
                                    t2 += (d - mean) * (d - mean)
                                    sq += d * d
                            var = t2 / (m - 1)
                            sq = sq / m
                            out[i] = (x[i] - c0 - mean) / np.sqrt(var) if var > 1e-10 * sq else np.nan
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def _z_of_sums(x, c0, s1, s2, c, ok, out):  # type: ignore[no-untyped-def]  # numba
    """:func:`grid_trailing_z`'s scores of one block from its running sums: ``out[k]`` where ``ok[k]``
    and the window has a spread; True when some row's window is near-constant (the caller recounts
    those). No row depends on another, so this loop runs on vectors ("numpy" error model: a division
    by zero in a row not scored gives inf, not an exception, which would stop the vectorizing)."""
    near = 0
    for k in range(x.shape[0]):
        mean = s1[k] / c[k]
        var = (s2[k] - s1[k] * mean) / (c[k] - 1.0)
        sq = s2[k] / c[k]
        z = (x[k] - c0 - mean) / np.sqrt(var)
        rec = (var > 0.0) & (var <= 1e-6 * sq)
        near += ok[k] & rec
        out[k] = z if ok[k] & ~rec & (var > 1e-10 * sq) else np.nan
    return near > 0


def grid_sum(x: FloatArray, starts: np.ndarray, n: int) -> FloatArray:
    """Sum of the non-missing values of rows ``i − n + 1 … i`` of each series (the row itself
    included); NaN where all of them are missing. Same units as ``x``.

    A window whose values are all zero sums to exactly 0 (not the rounding residue of adding and
    removing earlier values): "no liquidations in the window" must compare equal to 0.
    """
    out = np.full(x.shape[0], np.nan)
    _grid_sum(read_only(x), starts, n, out)
    return out


@njit(**FLAT_LOOP)
def _grid_sum(x, starts, n, out):  # type: ignore[no-untyped-def]  # numba
    """:func:`grid_sum` into ``out`` (NaN at first)."""
    for s in range(starts.shape[0] - 1):
        a, b = starts[s], starts[s + 1]
        cnt, nonzero, tot = 0, 0, 0.0
        for i in range(a, b):
            v = x[i]
            if not np.isnan(v):
                cnt += 1
                tot += v
                nonzero += v != 0.0
            j = i - n
            if j >= a:
                v = x[j]
                if not np.isnan(v):
                    cnt -= 1
                    tot -= v
                    nonzero -= v != 0.0
            if nonzero == 0:
                tot = 0.0
            if cnt > 0:
                out[i] = tot


#: Rows per block of :func:`grid_corr`: the running sums of a block are kept, then turned into
#: correlations all at once.
_CORR_BLOCK = 1024
#: :func:`grid_corr`'s NaN rule: a window's variance must exceed this share of its mean square (below it
#: the raw sums' cancellation is all there is; relative errors of r grow as eps / share, ≤ 2e-7 here).
_CORR_DUST = 1e-9


def grid_corr(x: FloatArray, y: FloatArray, starts: np.ndarray, n: int, min_pairs: int) -> FloatArray:
    """Pearson correlation of ``x`` and ``y`` over rows ``i − n + 1 … i`` of each series.

    Only full windows (the series has ``n`` rows up to ``i``) and only rows where both are present
    count; NaN with fewer than ``min_pairs`` pairs or where either variance is within rounding of zero
    (:data:`_CORR_DUST`); kept within [−1, 1].
    Dimensionless.

    Block by block: the running sums (a chain from row to row) are kept per row, then a loop without
    branches turns them into correlations, which the compiler vectorizes (the divisions and square root
    row after row: 4.5 ms for a 4-symbol chunk of ``benchmarks/bench_metrics.py``, 2.8 ms so).
    The compiled loop (:func:`_grid_corr`) gets its output and scratch from here and ``x``, ``y`` as
    read-only arrays whatever their memory, so that numba compiles it once (:data:`FLAT_LOOP`).
    """
    out = np.full(x.shape[0], np.nan)
    _grid_corr(read_only(x), read_only(y), starts, n, min_pairs, out, np.empty((6, _CORR_BLOCK)))
    return out


@njit(**FLAT_LOOP)
def _grid_corr(x, y, starts, n, min_pairs, out, sums):  # type: ignore[no-untyped-def]  # numba
    """:func:`grid_corr` into ``out`` (NaN where no correlation), ``sums`` a 6 × :data:`_CORR_BLOCK`
    scratch for the running sums of a block (count, Σx, Σy, Σxy, Σx², Σy² of each row's window)."""
    cs, sas, sbs, sabs, saas, sbbs = sums[0], sums[1], sums[2], sums[3], sums[4], sums[5]
    for s in range(starts.shape[0] - 1):
        a, b = starts[s], starts[s + 1]
        c, sa, sb, sab, saa, sbb = 0, 0.0, 0.0, 0.0, 0.0, 0.0
        for lo in range(a, b, _CORR_BLOCK):
            # conditional values, not min/max: numba compiles a min/max routine per call site
            hi = lo + _CORR_BLOCK if lo + _CORR_BLOCK < b else b
            for i in range(lo, hi):
                u, v = x[i], y[i]
                if not (np.isnan(u) or np.isnan(v)):
                    c += 1
                    sa += u
                    sb += v
                    sab += u * v
                    saa += u * u
                    sbb += v * v
                j = i - n
                if j >= a:
                    u, v = x[j], y[j]
                    if not (np.isnan(u) or np.isnan(v)):
                        c -= 1
                        sa -= u
                        sb -= v
                        sab -= u * v
                        saa -= u * u
                        sbb -= v * v
                k = i - lo
                cs[k], sas[k], sbs[k] = c, sa, sb
                sabs[k], saas[k], sbbs[k] = sab, saa, sbb
            # the rows with a full window, from their sums: no branch and no row depending on another, so
            # vector code; the same operations as row by row, so the same doubles
            full = a + n - 1 if a + n - 1 > lo else lo
            o = out[full:hi]
            k0 = full - lo
            for k in range(o.shape[0]):
                c_, sa_, sb_ = cs[k0 + k], sas[k0 + k], sbs[k0 + k]
                sab_, saa_, sbb_ = sabs[k0 + k], saas[k0 + k], sbbs[k0 + k]
                ma, mb = sa_ / c_, sb_ / c_
                va = saa_ / c_ - ma * ma
                vb = sbb_ / c_ - mb * mb
                r = (sab_ / c_ - ma * mb) / np.sqrt(va * vb)
                # a variance below a billionth of the mean square is the sums' rounding, not a spread: the
                # raw moments cancel (values of 1e-3 varying by 1e-12 gave |r| = 2.8); within it, rounding
                # can still put |r| a hair past 1 (a 2-pair window of values near 1e5: 1.0000002), so r is
                # kept in [−1, 1]
                real = (va > _CORR_DUST * (saa_ / c_)) & (vb > _CORR_DUST * (sbb_ / c_))
                r = -1.0 if r < -1.0 else (1.0 if r > 1.0 else r)
                o[k] = r if (c_ >= min_pairs) & real else np.nan


def grid_quantile(x: FloatArray, starts: np.ndarray, n: int, q: float, min_samples: int) -> FloatArray:
    """Quantile ``q`` of the non-missing values of the last ``n`` rows of each series (the row itself
    included), with the "nearest" rule polars' ``rolling_quantile`` uses: the value of sorted index
    ``round((count − 1) × q)`` (halves away from zero); NaN with fewer than ``min_samples`` values.

    Exact: each series' values are ranked once (:func:`_rank_sorted`), the window's values are counted
    per rank, and the quantile's rank is kept with the count of values below it
    (:func:`_slide_quantile`), so a row costs a step or two unless the quantile moves far. polars' own
    rolling quantile re-sorts the window's values as it slides, about 30× slower on a 30-day window of
    5-minute bars (8,640 rows), where it was most of :func:`~perpscope.regimes.classify`. The sort is
    numpy's: inside the compiled loop, numba's sorting routines cost its first compile about 2 s.
    """
    out = np.full(x.shape[0], np.nan)
    for s in range(starts.shape[0] - 1):
        a, b = int(starts[s]), int(starts[s + 1])
        vals = read_only(x[a:b])
        # only the known values that are not 0 are sorted (most bars of a liquidation series are 0, and
        # the sort was most of the time; one NaN sends numpy's argsort from its vector sort to a scalar
        # one, 2× the time): the zeros take one rank, between the negatives and the positives
        nz = np.flatnonzero((vals != 0) & ~np.isnan(vals))
        order = nz[np.argsort(vals[nz])]
        rank, uniq = np.empty(b - a, np.int64), np.empty(b - a + 1)
        size = _rank_sorted(vals, order, rank, uniq)
        if size:
            counts, blocks = np.zeros(size, np.int32), np.zeros((size >> 6) + 1, np.int32)
            _slide_quantile(rank, uniq, counts, blocks, a, b, n, q, min_samples, out)
    return out


@njit(**FLAT_LOOP)
def _rank_sorted(vals, order, rank, uniq):  # type: ignore[no-untyped-def]  # numba
    """Each value's rank among the distinct known values of ``vals`` into ``rank`` (-1 where missing)
    and those values ascending into ``uniq`` (a zero as +0.0), from ``order``: the rows of the values
    that are not 0, sorted (NaN last). Returns the number of distinct values."""
    size = 0
    zero = -1 if order.shape[0] < vals.shape[0] else -2  # the zeros' rank (-1: not placed yet; -2: none)
    for j in range(order.shape[0]):
        v = vals[order[j]]
        if np.isnan(v):
            break
        if zero == -1 and v > 0:
            uniq[size] = 0.0
            zero = size
            size += 1
        if size == 0 or v != uniq[size - 1]:
            uniq[size] = v
            size += 1
        rank[order[j]] = size - 1
    if zero == -1:
        uniq[size] = 0.0
        zero = size
        size += 1
    for j in range(vals.shape[0]):
        v = vals[j]
        rank[j] = zero if v == 0 else (-1 if np.isnan(v) else rank[j])
    return size


@njit(**FLAT_LOOP)
def _slide_quantile(rank, uniq, counts, blocks, a, b, n, q, min_samples, out):  # type: ignore[no-untyped-def]  # numba
    """:func:`grid_quantile` of the rows ``a … b − 1`` (one series) into ``out``, from each row's rank
    among the series' distinct values ``uniq`` (-1: missing).

    The window's values are counted per rank in ``counts`` and per block of 64 ranks in ``blocks``
    (int32 zeros the caller allocates); the quantile's rank ``pos`` is kept with the number of the
    window's values below it, and moved to the rank holding the wanted
    position when a value entering or leaving the window shifts it: one or two steps per row mostly, a
    block at a time across ranks the window does not hold. (A Fenwick tree walked down for every row,
    O(log m): 10.2 ms for the 4-symbol chunk of ``benchmarks/bench_metrics.py``, 5.7 ms so, ranking
    included.) The value is the sorted window's, so bit for bit the same.
    """
    pos, below, cnt = 0, 0, 0
    for i in range(a, b):
        r = rank[i - a]
        j = i - n
        if j >= a and rank[j - a] == r:
            # the value entering equals the one leaving: the window holds the same values (most bars
            # of a liquidation series are 0), so its quantile is the previous row's
            out[i] = out[i - 1]
            continue
        if r >= 0:  # enters the window
            cnt += 1
            counts[r] += 1
            blocks[r >> 6] += 1
            below += r < pos
        if j >= a and rank[j - a] >= 0:  # leaves it
            r = rank[j - a]
            cnt -= 1
            counts[r] -= 1
            blocks[r >> 6] -= 1
            below -= r < pos
        if cnt == 0 or cnt < min_samples:
            continue
        f = (cnt - 1) * q
        idx = np.floor(f)
        if f - idx >= 0.5:
            idx += 1
        want = int(idx)  # the position (from 0) of the quantile among the window's sorted values
        while want < below:  # down, a whole block where all of it stays above the position
            if pos & 63 == 0 and below - blocks[(pos >> 6) - 1] > want:
                pos -= 64
                below -= blocks[pos >> 6]
            else:
                pos -= 1
                below -= counts[pos]
        while want >= below + counts[pos]:  # up, likewise
            if pos & 63 == 0 and below + blocks[pos >> 6] <= want:
                below += blocks[pos >> 6]
                pos += 64
            else:
                below += counts[pos]
                pos += 1
        out[i] = uniq[pos]
