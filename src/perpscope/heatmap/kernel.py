"""The position-book kernel: a readable reference and a numba twin, tested equal.

Both take per-bar arrays (already decided by a model: how much leveraged notional opened, on which
side, at what entry, and what fraction of the book survives the bar) and keep two books of USD by price
bin — longs by their liquidation price, shorts by theirs. Per bar ``t``, in this order:

1. **Consume**: every long level in a bin at or above the bin of the bar's low is liquidated (price
   traded down to it); every short level in a bin at or below the bin of the bar's high likewise. The
   USD consumed is the model's predicted liquidation volume for the bar.
2. **Remove**: multiply both books by ``keep[t]`` (open-interest decreases close positions
   proportionally; optional time decay).
3. **Add** (on a *commit* bar): the new long and short notional of every bar since the previous commit
   bar, spread over the leverage mix, each at its liquidation price ``entry[s] × factor[s]`` (factors
   from :mod:`perpscope.heatmap.liqprice`). Every bar is a commit bar unless ``commit`` says otherwise:
   the models commit once per netting window, so the book does not depend on the bar length (positions
   of a window enter when the window closes, each at the entry price of the bar it opened in).
4. **Snapshot** the books when ``t`` is a snapshot bar.

New positions are added after consumption: a position opened during a bar is first exposed to the next
bar's range. A level is consumed when its *bin* is touched (bin-width discretization). Notional of bars
after the last commit bar is not added.

Invariant (tested): added USD = consumed + removed + left on the books.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from perpscope.core.jit import njit


@dataclass(frozen=True, slots=True)
class KernelOut:
    """Kernel results; USD amounts, bins ``[lo + i·width, lo + (i+1)·width)``."""

    consumed_long: np.ndarray  # (n_bars,) USD of longs liquidated in each bar
    consumed_short: np.ndarray
    removed: np.ndarray  # (n_bars,) USD removed by keep < 1 (both sides)
    grid_long: np.ndarray  # (n_snapshots, n_bins) book after each snapshot bar
    grid_short: np.ndarray
    final_long: np.ndarray  # (n_bins,) book after the last bar
    final_short: np.ndarray


def _bin(price: float, lo: float, width: float, n_bins: int) -> int:
    b = math.floor((price - lo) / width)
    return min(max(b, 0), n_bins - 1)


# Deliberate twin (duplicates lists it): numba_kernel below takes the same arguments and computes the
# same thing compiled; this readable version is the oracle the tests hold it equal to. Keep both.
def reference_kernel(
    high: np.ndarray,
    low: np.ndarray,
    entry: np.ndarray,
    new_long: np.ndarray,
    new_short: np.ndarray,
    keep: np.ndarray,
    long_factor: np.ndarray,
    short_factor: np.ndarray,
    weights: np.ndarray,
    lo: float,
    width: float,
    n_bins: int,
    snapshots: np.ndarray,
    commit: np.ndarray | None = None,
) -> KernelOut:
    """Readable reference: plain Python loops, the books as lists.

    ``long_factor``/``short_factor`` are (n_bars, n_leverages): liquidation price / entry per bar and
    leverage; ``weights`` (n_leverages,) the share of new notional at each leverage (sums to 1);
    ``snapshots`` (n_bars,) bool; ``commit`` (n_bars,) bool, default every bar.
    """
    n = len(high)
    commit = np.ones(n, dtype=np.bool_) if commit is None else commit
    pending = 0  # first bar whose notional is not on the books yet
    longs = [0.0] * n_bins
    shorts = [0.0] * n_bins
    consumed_long = np.zeros(n)
    consumed_short = np.zeros(n)
    removed = np.zeros(n)
    grid_long, grid_short = [], []
    for t in range(n):
        # 1. consume what the bar's range touched
        for i in range(_bin(low[t], lo, width, n_bins), n_bins):
            consumed_long[t] += longs[i]
            longs[i] = 0.0
        for i in range(0, _bin(high[t], lo, width, n_bins) + 1):
            consumed_short[t] += shorts[i]
            shorts[i] = 0.0
        # 2. proportional removal
        if keep[t] != 1.0:
            before = sum(longs) + sum(shorts)
            longs = [x * keep[t] for x in longs]
            shorts = [x * keep[t] for x in shorts]
            removed[t] = before - (sum(longs) + sum(shorts))
        # 3. on a commit bar, the new positions of the bars since the last one, at their liquidation prices
        if commit[t]:
            for u in range(pending, t + 1):
                for k in range(len(weights)):
                    if new_long[u] > 0.0:
                        longs[_bin(entry[u] * long_factor[u, k], lo, width, n_bins)] += (
                            new_long[u] * weights[k]
                        )
                    if new_short[u] > 0.0:
                        j = _bin(entry[u] * short_factor[u, k], lo, width, n_bins)
                        shorts[j] += new_short[u] * weights[k]
            pending = t + 1
        # 4. snapshot
        if snapshots[t]:
            grid_long.append(list(longs))
            grid_short.append(list(shorts))
    return KernelOut(
        consumed_long,
        consumed_short,
        removed,
        np.array(grid_long, dtype=np.float64).reshape(-1, n_bins),
        np.array(grid_short, dtype=np.float64).reshape(-1, n_bins),
        np.array(longs),
        np.array(shorts),
    )


@njit(cache=True, nogil=True)
def _nb_bin(price: float, lo: float, width: float, n_bins: int) -> int:
    b = math.floor((price - lo) / width)
    if b < 0:
        return 0
    if b > n_bins - 1:
        return n_bins - 1
    return int(b)


@njit(cache=True, nogil=True)
def _numba_kernel(high, low, entry, new_long, new_short, keep, long_factor, short_factor, weights,  # type: ignore[no-untyped-def]
                  lo, width, n_bins, snapshots, commit):  # fmt: skip
    """Same semantics as :func:`reference_kernel`; O(1) removal via a lazy scale, touched-range pointers.

    Books are stored divided by ``scale`` (the product of all ``keep`` so far), so removal is one
    multiplication; ``top`` (highest non-empty long bin) and ``bottom`` (lowest non-empty short bin)
    bound the consumption loops, so each bin is cleared once per fill.
    """
    n = high.shape[0]
    n_lev = weights.shape[0]
    longs = np.zeros(n_bins)
    shorts = np.zeros(n_bins)
    consumed_long = np.zeros(n)
    consumed_short = np.zeros(n)
    removed = np.zeros(n)
    n_snap = 0
    for t in range(n):
        if snapshots[t]:
            n_snap += 1
    grid_long = np.zeros((n_snap, n_bins))
    grid_short = np.zeros((n_snap, n_bins))
    scale = 1.0
    total_raw = 0.0  # sum of both books, unscaled
    top = -1
    bottom = n_bins
    s = 0
    pending = 0
    for t in range(n):
        b = _nb_bin(low[t], lo, width, n_bins)
        acc = 0.0
        for i in range(b, top + 1):
            acc += longs[i]
            longs[i] = 0.0
        if b <= top:
            top = b - 1
        consumed_long[t] = acc * scale
        total_raw -= acc
        b = _nb_bin(high[t], lo, width, n_bins)
        acc = 0.0
        for i in range(bottom, b + 1):
            acc += shorts[i]
            shorts[i] = 0.0
        if b >= bottom:
            bottom = b + 1
        consumed_short[t] = acc * scale
        total_raw -= acc
        k_t = keep[t]
        if k_t != 1.0:
            removed[t] = total_raw * scale * (1.0 - k_t)
            scale *= k_t
            if scale < 1e-150 or k_t == 0.0:  # renormalize before underflow
                for i in range(n_bins):
                    longs[i] *= scale
                    shorts[i] *= scale
                total_raw *= scale
                scale = 1.0
        if commit[t]:
            for u in range(pending, t + 1):
                for k in range(n_lev):
                    if new_long[u] > 0.0:
                        j = _nb_bin(entry[u] * long_factor[u, k], lo, width, n_bins)
                        v = new_long[u] * weights[k] / scale
                        longs[j] += v
                        total_raw += v
                        if j > top:
                            top = j
                    if new_short[u] > 0.0:
                        j = _nb_bin(entry[u] * short_factor[u, k], lo, width, n_bins)
                        v = new_short[u] * weights[k] / scale
                        shorts[j] += v
                        total_raw += v
                        if j < bottom:
                            bottom = j
            pending = t + 1
        if snapshots[t]:
            for i in range(n_bins):
                grid_long[s, i] = longs[i] * scale
                grid_short[s, i] = shorts[i] * scale
            s += 1
    return consumed_long, consumed_short, removed, grid_long, grid_short, longs * scale, shorts * scale


# Deliberate twin of reference_kernel above (same signature, same results, compiled): the tests check
# one against the other, so a change to either is made to both.
def numba_kernel(
    high: np.ndarray,
    low: np.ndarray,
    entry: np.ndarray,
    new_long: np.ndarray,
    new_short: np.ndarray,
    keep: np.ndarray,
    long_factor: np.ndarray,
    short_factor: np.ndarray,
    weights: np.ndarray,
    lo: float,
    width: float,
    n_bins: int,
    snapshots: np.ndarray,
    commit: np.ndarray | None = None,
) -> KernelOut:
    """The compiled kernel (numba, cached); arguments as :func:`reference_kernel`."""
    f64 = np.float64
    commit = np.ones(len(high), dtype=np.bool_) if commit is None else commit
    out = _numba_kernel(
        np.ascontiguousarray(high, f64), np.ascontiguousarray(low, f64), np.ascontiguousarray(entry, f64),
        np.ascontiguousarray(new_long, f64), np.ascontiguousarray(new_short, f64),
        np.ascontiguousarray(keep, f64), np.ascontiguousarray(long_factor, f64),
        np.ascontiguousarray(short_factor, f64), np.ascontiguousarray(weights, f64),
        float(lo), float(width), int(n_bins), np.ascontiguousarray(snapshots, np.bool_),
        np.ascontiguousarray(commit, np.bool_),
    )  # fmt: skip
    return KernelOut(*out)


KERNELS = {"reference": reference_kernel, "numba": numba_kernel}
