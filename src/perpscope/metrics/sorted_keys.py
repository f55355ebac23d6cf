"""Compiled loops over sorted int64 keys: the as-of match and the lookup of a few
distinct values that the panel runs on every input row.

The panel (:func:`perpscope.metrics.build_panel`) keys every row by one integer, ``series id × 2^42 +
ms``, which increases along a frame sorted by series then time. On such keys an as-of join is one merge
pass of two pointers; polars' general forms (a join, an
expression per column with shifted copies) cost several passes and temporary columns each, and with
~2 M input rows per chunk of 4 symbols × 1 year of 5-minute bars the difference is most of the panel's
join time (``benchmarks/bench_metrics.py``). The callers keep the polars forms for frames these do not
fit (nulls in a key, string keys) and the tests hold the two equal.
"""

from __future__ import annotations

import numpy as np

from perpscope.core.jit import njit, read_only


@njit(cache=True, nogil=True, inline="always")
def _gallop(right, j, k):  # type: ignore[no-untyped-def]  # numba
    """The last row ``≥ j`` of ascending ``right`` whose key is ``≤ k`` (``j`` when none after it is),
    found by doubling steps then bisection: for left keys far sparser than the right ones (4.4 k
    funding settlements against 420 k open-interest snapshots: 0.27 -> 0.05 ms), where the
    row-by-row walk would read every right key. Dense keys keep the walk, whose loop is cheaper
    per step (0.76 against 1.1 ms for 420 k against 420 k)."""
    m = right.shape[0]
    lo, step = j, 1
    hi = j + 1
    while hi < m and right[hi] <= k:
        lo = hi
        step *= 2
        hi = j + step
    hi = min(hi, m)  # right[lo] <= k < right[hi] (hi = m: past the end)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if right[mid] <= k:
            lo = mid
        else:
            hi = mid
    return lo


def asof_index(
    left: np.ndarray, right: np.ndarray, left_sid: np.ndarray, right_sid: np.ndarray, tolerance: int
) -> np.ndarray:
    """:func:`_asof_index` on read-only views (one compiled signature: core.jit.read_only)."""
    ro = read_only
    return _asof_index(ro(left), ro(right), ro(left_sid), ro(right_sid), tolerance)


@njit(cache=True, nogil=True)
def _asof_index(left, right, left_sid, right_sid, tolerance):  # type: ignore[no-untyped-def]  # numba
    """For each ``left`` key, the row of the last ``right`` key ``≤`` it, or -1.

    ``left`` and ``right`` are ascending int64 keys; of equal right keys the last one is taken (as
    polars' backward ``join_asof``). A match is dropped (-1) when its series id differs from the left
    row's (``left_sid``, ``right_sid``: int64 per row) or when ``left − right > tolerance`` (ms in the
    keys' units; a negative tolerance means none).
    """
    n = left.shape[0]
    m = right.shape[0]
    sparse = m > 8 * n  # many right keys per left one: gallop
    out = np.empty(n, dtype=np.int64)
    j = -1
    for i in range(n):
        k = left[i]
        if sparse:
            j = _gallop(right, j, k)
        else:
            while j + 1 < m and right[j + 1] <= k:
                j += 1
        if j < 0 or right_sid[j] != left_sid[i] or (tolerance >= 0 and k - right[j] > tolerance):
            out[i] = -1
        else:
            out[i] = j
    return out


def asof_keyed(
    left: np.ndarray, offset: np.ndarray, right: np.ndarray, shift: int, tolerance: int
) -> np.ndarray:
    """:func:`_asof_keyed` on read-only views (one compiled signature: core.jit.read_only)."""
    return _asof_keyed(read_only(left), read_only(offset), read_only(right), shift, tolerance)


@njit(cache=True, nogil=True)
def _asof_keyed(left, offset, right, shift, tolerance):  # type: ignore[no-untyped-def]  # numba
    """``asof_index(left + offset, right, left >> shift, right >> shift, tolerance)`` in one pass.

    For keys ``series id × 2^shift + ms`` the series ids are the keys' high bits, and the panel's
    bar-end look-ups add each row's interval (``offset``, int64 per row; an empty array adds
    nothing; ``left + offset`` must ascend, as it does with one interval per series). The shifted
    and summed copies the general call needs cost more than the merge itself (1.6 -> 0.8 ms for the
    open-interest look-up of a panel chunk's 420 k bars).
    """
    n = left.shape[0]
    m = right.shape[0]
    sparse = m > 8 * n  # many right keys per left one: gallop
    add = offset.shape[0] == n
    out = np.empty(n, dtype=np.int64)
    j = -1
    for i in range(n):
        k = left[i] + offset[i] if add else left[i]
        if sparse:
            j = _gallop(right, j, k)
        else:
            while j + 1 < m and right[j + 1] <= k:
                j += 1
        if (
            j < 0
            or (right[j] >> shift) != (left[i] >> shift)  # the last key is another series'
            or (tolerance >= 0 and k - right[j] > tolerance)
        ):
            out[i] = -1
        else:
            out[i] = j
    return out


@njit(cache=True, nogil=True)
def lookup_runs(values, table, codes, missing):  # type: ignore[no-untyped-def]  # numba
    """``codes[t]`` for each value equal to ``table[t]`` (``table`` ascending, distinct), else ``missing``.

    Rows of one series come in long runs, so the binary search runs once per run, not per row.
    """
    n = values.shape[0]
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    prev = values[0]
    t = np.searchsorted(table, prev)
    code = codes[t] if t < table.shape[0] and table[t] == prev else missing
    for i in range(n):
        v = values[i]
        if v != prev:
            t = np.searchsorted(table, v)
            code = codes[t] if t < table.shape[0] and table[t] == v else missing
            prev = v
        out[i] = code
    return out


def pairs_ascending(major: np.ndarray, minor: np.ndarray) -> bool:
    """:func:`_pairs_ascending` on read-only views (one compiled signature)."""
    return bool(_pairs_ascending(read_only(major), read_only(minor)))


@njit(cache=True, nogil=True)
def _pairs_ascending(major, minor):  # type: ignore[no-untyped-def]  # numba
    """True when the rows ``(major[i], minor[i])`` (int64 each) are in ascending lexicographic order."""
    for i in range(1, major.shape[0]):
        a, b = major[i], major[i - 1]
        if a < b or (a == b and minor[i] < minor[i - 1]):
            return False
    return True
