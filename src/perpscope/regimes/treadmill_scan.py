"""The treadmill's per-flush arithmetic, compiled: flush bounds, the long-flush rule, the stats around a
flush and each flush → flush cycle's numbers.

:func:`perpscope.regimes.treadmill.treadmill` and ``circuit_breakers`` read a series' flushes and,
for each pair of consecutive flushes, a dozen NaN-skipping maxima and minima over short slices. Written
with numpy that was ~20 small array calls per pair (each a few µs of dispatch: 0.06 s CPU per 4 symbols
× a year of 5-minute bars, where the synthetic walks flush ~450 times); these loops do one pass per
series. The numbers are the numpy ones, operation for operation: ``nanmax`` / ``nanmin`` of a slice
(NaN when it is empty or all NaN), ``nanargmax`` (the first index of the largest value), the same
divisions in the same order (numba's Python error model raises ``ZeroDivisionError`` where Python
floats did).

Arrays are one series' bars: ``ts`` int64 ms, the others float64 with NaN for missing (``liq`` =
long + short liquidation windows with missing read as 0, USD). Definitions: ``docs/regimes.md``.
"""

from __future__ import annotations

import numpy as np

from perpscope.core.jit import njit

#: Columns of the numbers :func:`cycles` returns per flush pair.
CYCLE_FIELDS: tuple[str, ...] = (
    "flush_oi_chg",
    "flush_liq_long_usd",
    "rebuild_peak",  # bar index (float) of the rebuilt OI's peak
    "rebuilt_share",
    "rebuilt_oi_chg",
    "funding_min_8h",
    "funding_max_8h",
    "bounce",
    "range_low",
    "range_high",
)


_BIG = float(np.finfo(np.float64).max)


@njit(cache=True, nogil=True)
def nan_max(x, lo, hi):  # type: ignore[no-untyped-def]  # numba
    """``np.nanmax(x[lo:hi])``, NaN when the slice is empty or all NaN."""
    m = np.nan
    for i in range(max(lo, 0), min(hi, x.shape[0])):
        v = x[i]
        if not np.isnan(v) and (np.isnan(m) or v > m):
            m = v
    return m


@njit(cache=True, nogil=True)
def nan_min(x, lo, hi):  # type: ignore[no-untyped-def]  # numba
    """``np.nanmin(x[lo:hi])``, NaN when the slice is empty or all NaN."""
    m = np.nan
    for i in range(max(lo, 0), min(hi, x.shape[0])):
        v = x[i]
        if not np.isnan(v) and (np.isnan(m) or v < m):
            m = v
    return m


@njit(cache=True, nogil=True)
def _nan_max_abs(x, lo, hi):  # type: ignore[no-untyped-def]  # numba
    m = np.nan
    for i in range(max(lo, 0), min(hi, x.shape[0])):
        v = abs(x[i])
        if not np.isnan(v) and (np.isnan(m) or v > m):
            m = v
    return m


@njit(cache=True, nogil=True)
def _nan_argmax(x, lo, hi):  # type: ignore[no-untyped-def]  # numba
    """``lo + np.nanargmax(x[lo:hi])`` (the first largest; NaN read as -inf); the slice holds a value."""
    best, at = -np.inf, -1
    for i in range(lo, hi):
        v = x[i]
        if at < 0 or (not np.isnan(v) and v > best):
            best, at = (-np.inf if np.isnan(v) else v), i
    return at


@njit(cache=True, nogil=True)
def _finite(v):  # type: ignore[no-untyped-def]  # numba
    """``np.nan_to_num`` of one value: NaN → 0, ±inf → ± the largest double."""
    if np.isnan(v):
        return 0.0
    if v == np.inf:
        return _BIG
    if v == -np.inf:
        return -_BIG
    return v


@njit(cache=True, nogil=True)
def flush_bounds(ts, flush, flush_window, gap_ms):  # type: ignore[no-untyped-def]  # numba
    """(first, last) bar of each flush: flush bars closer than ``gap_ms`` are one flush, and a flush
    lasts while its window's condition (``flush_window``) still holds on the bars after its last bar."""
    n = flush.shape[0]
    first = np.empty(n, dtype=np.int64)
    last = np.empty(n, dtype=np.int64)
    k, start, prev = 0, -1, np.int64(-1)  # not a literal -1: _through compiles one signature
    for i in range(n):
        if not flush[i]:
            continue
        if start < 0:
            start = i
        elif ts[i] - ts[prev] > gap_ms:
            first[k], last[k] = start, _through(flush_window, prev)
            k += 1
            start = i
        prev = np.int64(i)
    if start >= 0:
        first[k], last[k] = start, _through(flush_window, prev)
        k += 1
    return first[:k], last[:k]


@njit(cache=True, nogil=True)
def _through(flush_window, b):  # type: ignore[no-untyped-def]  # numba
    while b + 1 < flush_window.shape[0] and flush_window[b + 1]:
        b += 1
    return b


@njit(cache=True, nogil=True)
def long_led(liq, liq_long, liq_short, a, b):  # type: ignore[no-untyped-def]  # numba
    """Whether the flush on bars ``a … b`` liquidated longs: at its bar with the most liquidations,
    long liquidations at least match short ones; True without liquidation data."""
    known, any_liq = False, False
    for i in range(a, b + 1):
        if not np.isnan(liq_long[i]):
            known = True
        if liq[i] > 0:
            any_liq = True
    if not known or not any_liq:
        return True
    peak = _nan_argmax(liq, a, b + 1)
    return _finite(liq_long[peak]) >= _finite(liq_short[peak])


@njit(cache=True, nogil=True)
def flush_stats(oi, funding, liq, liq_long, a, b, until, n):  # type: ignore[no-untyped-def]  # numba
    """Around the flush on bars ``a … b``, read up to bar ``until``: (OI before: the peak of the ``n``
    bars up to its start; OI after: the low from its start to ``n`` bars after its end; the largest long
    and total liquidation windows in it; the lowest funding from its start to ``n`` bars after; the
    largest ``|funding|`` before it)."""
    post_end = min(until, b + n) + 1
    pre = max(0, a - n)
    return (
        nan_max(oi, pre, a + 1),
        nan_min(oi, a, post_end),
        nan_max(liq_long, a, b + 1),
        nan_max(liq, a, b + 1),
        nan_min(funding, a, post_end),
        _nan_max_abs(funding, pre, a + 1),
    )


@njit(cache=True, nogil=True)
def cycles(  # type: ignore[no-untyped-def]  # numba
    ts,
    close,
    high,
    low,
    oi,
    funding,
    liq,
    liq_long,
    liq_short,
    first,
    last,
    n,
    cycle_max_ms,
    rebuild_within_ms,
    oi_move,
    rebuild_min,
    funding_up_8h,
    price_move,
    range_max,
):
    """For each pair of consecutive flushes ``(first[k], last[k]) → (first[k + 1], last[k + 1])``:
    whether it is a treadmill cycle (``ok``) and its numbers (:data:`CYCLE_FIELDS`, rows of ``ok``
    pairs only). The conditions and numbers of :func:`perpscope.regimes.treadmill.treadmill`."""
    k = max(first.shape[0] - 1, 0)
    ok = np.zeros(k, dtype=np.bool_)
    out = np.full((k, len(CYCLE_FIELDS)), np.nan)
    for j in range(k):
        a, b, c, d = first[j], last[j], first[j + 1], last[j + 1]
        # bounded in time: the next flush within cycle_max_ms of this one's end
        if c <= b + 1 or ts[c] - ts[b] > cycle_max_ms:
            continue
        if not (long_led(liq, liq_long, liq_short, a, b) and long_led(liq, liq_long, liq_short, c, d)):
            continue
        oi_pre, oi_post, liq_l, _, f_min, _ = flush_stats(oi, funding, liq, liq_long, a, b, c - 1, n)
        flush_low = nan_min(low, a, b + 1)
        if flush_low == 0:  # the bounce off it is undefined: raise as the bounce's division always did
            raise ZeroDivisionError("float division by zero")
        # the first condition needs only the flush's numbers: most pairs fail it, and skip the scans of
        # the bars up to the next flush (the numbers are the same either way)
        if not oi_post / oi_pre - 1.0 <= -oi_move:
            continue
        # leverage rebuilt on the bounce: the OI peak up to rebuild_within_ms after the flush's end
        end = min(c, np.searchsorted(ts, ts[b] + rebuild_within_ms, side="right"))
        peak, oi_peak, share = -1, np.nan, np.nan
        if end > b + 1 and not np.isnan(nan_max(oi, b + 1, end)):
            peak = _nan_argmax(oi, b + 1, end)
            oi_peak = oi[peak]
            lost = oi_pre - oi_post
            share = (oi_peak - oi_post) / lost if lost > 0 else np.nan
        f_max = nan_max(funding, b + 1, c)
        bounce = nan_max(close, b + 1, c) / flush_low - 1.0
        lo, hi = nan_min(low, a, d + 1), nan_max(high, a, d + 1)
        if not (
            oi_post / oi_pre - 1.0 <= -oi_move
            and share >= rebuild_min
            and f_max >= funding_up_8h
            and f_min < funding_up_8h
            and bounce >= price_move
            and hi / lo - 1.0 <= range_max
        ):
            continue
        ok[j] = True
        out[j, 0] = oi_post / oi_pre - 1.0
        out[j, 1] = liq_l
        out[j, 2] = peak
        out[j, 3] = share
        out[j, 4] = oi_peak / oi_post - 1.0
        out[j, 5] = f_min
        out[j, 6] = f_max
        out[j, 7] = bounce
        out[j, 8] = lo
        out[j, 9] = hi
    return ok, out
