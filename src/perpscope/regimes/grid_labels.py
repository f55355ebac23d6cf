"""The regime of every bar of a gapless bar grid, computed by compiled loops.

:func:`perpscope.regimes.classify.classify` is defined by polars expressions (its named steps and
:func:`perpscope.regimes.horizons.conditions`): the inputs' changes over three horizons, liquidation sums
and a burst baseline, seven label conditions per horizon, dating, precedence, hysteresis and the choice of
the horizon. As expressions that is about a hundred columns written one after the other (0.22 s CPU per
4 symbols × a year of 5-minute bars, ``benchmarks/bench_metrics.py``). On a gapless grid every look-back
is a fixed number of rows, so :func:`label_grid` computes the same numbers block by block of rows, each
in the order polars computes it (so the same doubles), and writes only the columns ``classify`` returns.
Only the running sums of the windows and the held states carry anything from one row to the next; every
other step is a loop of its own without branches (``&``/``|`` of comparisons, conditional values), which
the compiler turns into vector code, eight rows at a time: 0.033 → 0.017 s CPU per 4-symbol chunk of
the benchmark, a third of the time in the running sums that stay row by row.

The expressions stay the definition, and the frames where this loop cannot be exact go to them:

- a panel that is not a gapless grid (time windows, as-of joins);
- inputs holding NaN or infinite values (polars orders NaN above every number; here NaN is "unknown");
- a change that is NaN from known inputs (``0 / 0``): found by the loop, which then declines the frame.

Every other missing value is null in polars and NaN here; the label conditions combine comparisons with
and/or only, so a condition read with unknowns as false equals polars' ``fill_null(False)`` of it.
A test holds this loop and the expressions frame-equal (``tests/regimes/test_grid_labels.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import polars as pl
import pyarrow as pa

from perpscope.core.jit import njit
from perpscope.metrics.arrow_buffers import floats
from perpscope.metrics.grid_windows import FLAT_HELPER, FLAT_LOOP, series_starts, to_series
from perpscope.regimes.bursts import BURST_RATIO, grid_baseline
from perpscope.regimes.config import LABELS, RegimeConfig
from perpscope.regimes.grid import SID, rows_in
from perpscope.regimes.horizons import DIRECTION, SUFFIX, move_thresholds, names

#: The horizons, in the order of the kernel's arrays.
_HORIZONS = ("bar", "window", "long")
#: Per horizon, the kernel's float outputs (with the horizon's suffix), in its row order.
_PER_H = ("price_chg", "oi_chg", "oi_usd_chg", "liq_long_w_usd", "liq_short_w_usd", "liq_long_share_w")
#: Label codes held with hysteresis (classify.HELD_STATES), by code: the bits of _state_conditions.
_HELD = tuple(LABELS.index(k) for k in ("new_shorts", "leverage_buildup", "latent_fragility"))
assert _HELD == (2, 3, 6), "_state_conditions writes the bits of these label codes"
#: :func:`label_grid`'s ``masks``: the bits of the held label codes, of the codes a close down dates and
#: of those a close up dates (:data:`DIRECTION`).
_MASKS = np.array(
    [
        sum(1 << k for k in _HELD),
        sum(1 << k for k, name in enumerate(LABELS[:-2]) if DIRECTION.get(name, 0) < 0),
        sum(1 << k for k, name in enumerate(LABELS[:-2]) if DIRECTION.get(name, 0) > 0),
    ],
    np.int64,
)
#: What the reading lacks, by bit of the kernel's ``missing`` code.
_MISSING_PARTS = ("price change", "OI", "funding")


@njit(**FLAT_HELPER)
def _conditions(p, o, ou, f, fchg, share, lw, sw, burst, ls, lz, fext, pm, om, par):  # type: ignore[no-untyped-def]  # numba
    """The seven label conditions of one bar over one horizon (horizons.conditions), unknown = false,
    as bits (bit k: the condition of label code k). Written with ``&``/``|`` (no branch) so that the
    loops calling it run on vectors."""
    fu, fls, sq_short, sq_long, ls_max, ls_min, rz = par[0], par[1], par[2], par[3], par[4], par[5], par[6]
    up, down = p >= pm, p <= -pm
    oi_up, oi_down, oi_holds = o >= om, o <= -om, abs(o) < om
    funding_up = (f >= fu) | ((f > 0) & (fchg > 0))
    long_liqs = (share >= fls) & (lw > 0)
    short_liqs = (share <= 1 - fls) & (sw > 0)
    liq_led_flush = down & (o < om) & (ou <= -om) & long_liqs & burst
    liq_led_cover = up & (o < om) & short_liqs & burst
    washout = down & oi_down & burst & (share >= 1 - fls)
    has_ls = not np.isnan(ls)
    short_skew = ((ls <= ls_max) | (lz <= -rz)) if has_ls else fext == -1
    long_skew = ((ls >= ls_min) | (lz >= rz)) if has_ls else fext == 1
    b0 = (down & oi_down & long_liqs) | liq_led_flush | washout
    b1 = (up & oi_down) | liq_led_cover
    b2 = down & oi_up
    b3 = up & oi_up & funding_up
    b4 = (f < sq_short) & short_skew
    b5 = (f >= sq_long) & long_skew
    b6 = down & oi_holds & (f > 0)
    return b0 | b1 << 1 | b2 << 2 | b3 << 3 | b4 << 4 | b5 << 5 | b6 << 6


@njit(**FLAT_HELPER)
def _state_conditions(p, o, f, fchg, pm, om, fu):  # type: ignore[no-untyped-def]  # numba
    """The conditions of the held states only (new shorts, build-up, fragility: bits 2, 3, 6 as in
    :func:`_conditions`), the bits the hysteresis reads at the hold's price threshold."""
    up, down = p >= pm, p <= -pm
    b2 = down & (o >= om)
    b3 = up & (o >= om) & ((f >= fu) | ((f > 0) & (fchg > 0)))
    b6 = down & (abs(o) < om) & (f > 0)
    return b2 << 2 | b3 << 3 | b6 << 6


@njit(**FLAT_HELPER)
def _first(bits):  # type: ignore[no-untyped-def]  # numba
    """The code of the first label whose condition holds (precedence: the lowest bit), else -1."""
    k = -1
    for b in range(6, -1, -1):  # unrolled into selects: no branch
        k = b if bits >> b & 1 else k
    return k


@njit(**FLAT_HELPER)
def _dated(label, ret, ratio, share_bar, fls, close_too, down, up):  # type: ignore[no-untyped-def]  # numba
    """classify._dated: the label kept on a bar whose own close moved its way (a flush: a burst bar that
    did not liquidate mostly shorts), else -1. ``down``/``up``: bit k set where label code k is dated by
    a close down/up (:data:`DIRECTION`)."""
    k = max(label, 0)
    wrong = ((down >> k & 1) == 1) & (not ret < 0) | ((up >> k & 1) == 1) & (not ret > 0)
    flush_bar = (ratio >= 1) & (share_bar >= 1 - fls) & ((not wrong) | (not close_too))
    keep = flush_bar if (label == 0) & (not np.isnan(ratio)) else not wrong
    return label if keep & (label >= 0) else -1


@njit(**FLAT_HELPER)
def _changes(x, n, lo, hi, a, out):  # type: ignore[no-untyped-def]  # numba
    """``out[i] = x[i] / x[i − n] − 1`` for the rows ``lo … hi − 1`` of the series beginning at row
    ``a`` (NaN where ``i − n`` is before it); True where one is NaN from known values (0 / 0)."""
    m = min(max(lo, a + n), hi)
    head = out[lo:m]
    for k in range(head.shape[0]):
        head[k] = np.nan
    cur, prev, o = x[m:hi], x[m - n : hi - n], out[m:hi]
    bad = False
    for k in range(cur.shape[0]):  # rows from 0 on contiguous slices: compiled to vector code
        u, v = cur[k], prev[k]
        r = u / v - 1.0
        o[k] = r
        bad |= np.isnan(r) & (not (np.isnan(u) | np.isnan(v)))
    return bad


@njit(**FLAT_HELPER)
def _lag_diff(x, n, lo, hi, a, out):  # type: ignore[no-untyped-def]  # numba
    """``out[i − lo] = x[i] − x[i − n]`` for the rows ``lo … hi − 1`` (NaN where ``i − n`` is before the
    series' first row ``a``)."""
    m = min(max(lo, a + n), hi)
    for k in range(m - lo):
        out[k] = np.nan
    cur, prev, o = x[m:hi], x[m - n : hi - n], out[m - lo : hi - lo]
    for k in range(cur.shape[0]):
        o[k] = cur[k] - prev[k]


#: Rows per block: every horizon and the labels are computed block by block, the conditions' bits kept
#: for one block only (not five arrays of every row) and each block's inputs read while in cache.
_BLOCK = 2048
#: The kernel's inputs, as the working frame of classify names them (float64, NaN for null).
_IN = (
    *("_close", "_oi", "_oi_usd", "funding_8h", "ls_ratio", "ls_z"),
    *("_liq_l", "_liq_s", "_f_ext", "_panel_burst"),
)


@njit(**FLAT_HELPER)
def _window_sums(h, n, lo, hi, a, liq_l, liq_s, burst, cnt, tot, lw_out, sw_out, bw_out):  # type: ignore[no-untyped-def]  # numba
    """The liquidation sums (long, short USD) and the burst flag of one horizon of ``n`` rows over the
    rows ``lo … hi − 1`` of the series beginning at row ``a``: the running sums, carried from block to
    block in ``cnt[h]`` (long/short counts, their non-zero counts, burst hits) and ``tot[h]`` (long and
    short USD), are :func:`~perpscope.metrics.grid_windows.grid_sum`'s arithmetic step by step (the
    same doubles). The one loop of a horizon that runs row after row."""
    c_l, c_s, nz_l, nz_s, hits = cnt[h, 0], cnt[h, 1], cnt[h, 2], cnt[h, 3], cnt[h, 4]
    t_l, t_s = tot[h, 0], tot[h, 1]
    for i in range(lo, hi):
        j = i - n
        # unsigned indices: numba checks a signed index for a negative value (counting from the end) on
        # every access; these rows are never negative (j is read only when j ≥ a)
        ui, uj = np.uint64(i), np.uint64(max(j, 0))
        v = liq_l[ui]
        if not np.isnan(v):
            c_l += 1
            t_l += v
            nz_l += v != 0.0
        v = liq_s[ui]
        if not np.isnan(v):
            c_s += 1
            t_s += v
            nz_s += v != 0.0
        hits += burst[ui] == 1
        if j >= a:
            v = liq_l[uj]
            if not np.isnan(v):
                c_l -= 1
                t_l -= v
                nz_l -= v != 0.0
            v = liq_s[uj]
            if not np.isnan(v):
                c_s -= 1
                t_s -= v
                nz_s -= v != 0.0
            hits -= burst[uj] == 1
        if nz_l == 0:
            t_l = 0.0
        if nz_s == 0:
            t_s = 0.0
        lw_out[ui] = t_l if c_l > 0 else np.nan
        sw_out[ui] = t_s if c_s > 0 else np.nan
        bw_out[ui] = -1 if burst[ui] < 0 else (1 if hits > 0 else 0)
    cnt[h, 0], cnt[h, 1], cnt[h, 2], cnt[h, 3], cnt[h, 4] = c_l, c_s, nz_l, nz_s, hits
    tot[h, 0], tot[h, 1] = t_l, t_s


@njit(**FLAT_HELPER)
def _horizon_conditions(lo, hi, rows, bw, f, ls_z, fchg, th, par, cond, held):  # type: ignore[no-untyped-def]  # numba
    """One horizon's liquidation share (into ``rows[5]``) and label conditions over the rows ``lo … hi − 1``
    (``rows``: its :data:`_PER_H` rows of the kernel's floats, ``bw`` its burst flags; ``f`` funding,
    ``ls_z`` the L/S ratio, its z and the extreme-funding sign), as bits into ``cond[i − lo]`` and, at
    the hold's price threshold ``th[2]``, into ``held`` (when it has rows)."""
    pm, om, pm_hold, fu = th[0], th[1], th[2], par[0]
    p, o, ou = rows[0][lo:hi], rows[1][lo:hi], rows[2][lo:hi]
    lws, sws, sh = rows[3][lo:hi], rows[4][lo:hi], rows[5][lo:hi]
    f, ls, lz, fext = f[lo:hi], ls_z[0][lo:hi], ls_z[1][lo:hi], ls_z[2][lo:hi]
    fc, b = fchg[lo:hi], bw[lo:hi]
    for k in range(hi - lo):  # no branch and no carried state: vector code
        lw, sw = lws[k], sws[k]
        s = lw + sw
        share = lw / s if s > 0 else np.nan
        sh[k] = share
        burst = b[k] == 1
        x, y, e = ls[k], lz[k], fext[k]
        cond[k] = _conditions(p[k], o[k], ou[k], f[k], fc[k], share, lw, sw, burst, x, y, e, pm, om, par)
    if held.shape[0]:
        for k in range(hi - lo):
            held[k] = _state_conditions(p[k], o[k], f[k], fc[k], pm_hold, om, fu)


@njit(**FLAT_LOOP)
def label_grid(  # type: ignore[no-untyped-def]  # numba
    ins, q, starts, lags, th, par, masks, floats, burst_w, flags, codes, led_out, work, codes_b, ret, cnt, tot
):
    """Every bar's numbers and labels (see the module docstring). ``ins`` holds the inputs
    (:data:`_IN`: close, OI in coins, OI in USD, funding per 8h, L/S ratio, its z, long and short
    liquidated USD, extreme-funding sign, the panel's burst flag), float64 with NaN for unknown; ``q`` the
    burst baseline (:func:`~perpscope.regimes.bursts.grid_baseline`); ``lags`` the rows of each horizon
    (bar, window, long); ``th[h]`` = price threshold, OI threshold, relaxed price threshold (hold) of
    horizon h; ``par`` = funding_up_8h, flush_long_share, squeeze_short_funding_8h,
    squeeze_long_funding_8h, ls_short_max, ls_long_min, ratio_z, burst_ratio; ``masks`` = the bits of
    the label codes held with hysteresis, of those a close down dates, of those a close up dates.

    Writes (arrays the caller allocates: numpy's large allocations use huge pages, numba's do not, and
    page faults cost more than the loop; and each array type numba allocates is one more routine for its
    first compile) ``floats`` (20 × n) rows ``6h + k`` the horizon h's :data:`_PER_H` k, row 18
    ``funding_chg``, row 19 the burst ratio (NaN unknown); ``burst_w[h]`` a burst bar in horizon h (-1
    unknown, 0, 1), row 3 the bar's own; ``flags`` the window's seven conditions; ``codes`` rows, as
    indices into the words of each text column (the one past the last: null): regime, bar label, window
    label held, long label held (label codes, 9 none), horizon key (0 bar, 1 window, 2 long, 3 none),
    horizon (as the key, the window where none), missing inputs (bits: price change, OI, funding);
    ``led_out`` liquidation-led. Scratch of one block (:data:`_BLOCK` columns): ``work`` (6 rows, uint8),
    ``codes_b`` (4 rows, int8), ``ret``; of one series: ``cnt`` (3 × 5, int64), ``tot`` (3 × 2). Returns
    False where a change is NaN from known inputs (the caller then uses the polars expressions).

    Each series is computed block by block (:data:`_BLOCK` rows): the bar's burst flag and funding
    change, the three horizons, then the labels, each row's operations in the order of the polars steps.
    Only the running sums and the hysteresis carry state from row to row; every other step is a loop of
    its own over the block without branches, which the compiler turns into vector code (8 rows at a time).
    """
    close, oi, oi_usd, fund = ins[0], ins[1], ins[2], ins[3]
    ls_z = (ins[4], ins[5], ins[8])  # L/S ratio, its z, the extreme-funding sign
    liq_l, liq_s, panel_burst = ins[6], ins[7], ins[9]
    fls, burst_ratio = par[1], par[7]
    held_mask, down, up = masks[0], masks[1], masks[2]
    th0, th1, th2 = th[0, 1], th[1, 1], th[2, 1]
    cond, held = work[:3], work[3:]  # held rows 1, 2: the window and the long window
    no_rows = held[0, :0]
    c_bars, missing = codes_b[0], codes_b[3]
    burst = burst_w[3]  # the bar's burst flag: -1 unknown, 0, 1
    fchg = floats[18]
    for s in range(starts.shape[0] - 1):
        a, b = starts[s], starts[s + 1]
        cnt[:] = 0
        tot[:] = 0.0
        on_w = on_l = 0  # the held states entered and not failed since (bits of their codes)
        for lo in range(a, b, _BLOCK):
            hi = min(lo + _BLOCK, b)
            m = hi - lo
            # the bar's burst flag (classify._with_bursts) and the funding change over the window
            ll, ls, qq, pb = liq_l[lo:hi], liq_s[lo:hi], q[lo:hi], panel_burst[lo:hi]
            rt, bu = floats[19][lo:hi], burst[lo:hi]
            for k in range(m):
                liq = ll[k] + ls[k]
                known, has_q = not np.isnan(liq), qq[k] > 0
                ratio = liq / qq[k]
                rt[k] = ratio if known & has_q else np.nan
                bu[k] = -1 if not known else ((ratio >= burst_ratio) if has_q else (pb[k] == 1.0))
            _lag_diff(fund, lags[1], lo, hi, a, fchg[lo:hi])
            for h in range(3):
                r, w = 6 * h, lags[h]
                bad = _changes(close, w, lo, hi, a, floats[r])
                bad |= _changes(oi, w, lo, hi, a, floats[r + 1])
                bad |= _changes(oi_usd, w, lo, hi, a, floats[r + 2])
                if bad:  # 0 / 0: a NaN polars keeps as NaN (not null)
                    return False
                bw = burst_w[h]
                _window_sums(h, w, lo, hi, a, liq_l, liq_s, burst, cnt, tot, floats[r + 3], floats[r + 4], bw)
                hold = held[h] if h else no_rows  # the bar's own horizon holds nothing
                rows = floats[r : r + 6]
                _horizon_conditions(lo, hi, rows, bw, fund, ls_z, fchg, th[h], par, cond[h], hold)
            # the window's conditions, each label dated, what the reading lacks: vector code
            _lag_diff(close, lags[0], lo, hi, a, ret)
            c0 = cond[0]
            share_bar, f = floats[5][lo:hi], fund[lo:hi]
            p1, o1, ou1 = floats[6][lo:hi], floats[7][lo:hi], floats[8][lo:hi]
            for j in range(7):
                fl, c1 = flags[j, lo:hi], cond[1]
                for k in range(m):
                    fl[k] = (c1[k] >> j & 1) == 1
            for k in range(m):
                c_bars[k] = _first(np.int64(c0[k]))
                missing[k] = np.isnan(p1[k]) | (np.isnan(o1[k]) & np.isnan(ou1[k])) << 1 | np.isnan(f[k]) << 2
            for h in range(1, 3):  # the window's labels, then the long window's (dated by its close too)
                c, dated, close_too = cond[h], codes_b[h], h == 2
                for k in range(m):
                    dated[k] = _dated(
                        _first(np.int64(c[k])), ret[k], rt[k], share_bar[k], fls, close_too, down, up
                    )
            # the states held with hysteresis (classify._with_held_states): a state is held on a bar
            # where its relaxed condition holds and it was entered (dated) no earlier than the last bar
            # where that condition failed (or the series' first bar). As bits (those of the held codes):
            # ``on_*`` the states entered and not failed since, carried row to row
            c_wins, c_longs = codes_b[1], codes_b[2]
            hw_row, hl_row = held[1], held[2]
            for k in range(m):
                first_bar = lo + k == a
                cw, cl = c_wins[k], c_longs[k]
                keep_w = 0 if first_bar else hw_row[k]
                keep_l = 0 if first_bar else hl_row[k]
                on_w = ((1 << max(cw, 0)) & held_mask if cw >= 0 else 0) | (on_w & keep_w)
                on_l = ((1 << max(cl, 0)) & held_mask if cl >= 0 else 0) | (on_l & keep_l)
                hw_row[k] = hw_row[k] & on_w
                hl_row[k] = hl_row[k] & on_l
            # the first label in precedence of each horizon and its held states, then the precedence of
            # the horizons (classify._ORDER): vector code again
            o_bar, o_win, o_long = floats[1][lo:hi], floats[7][lo:hi], floats[13][lo:hi]
            out0, out1, out2, out3 = codes[0, lo:hi], codes[1, lo:hi], codes[2, lo:hi], codes[3, lo:hi]
            out4, out5, out6, led_b = codes[4, lo:hi], codes[5, lo:hi], codes[6, lo:hi], led_out[lo:hi]
            for k in range(m):
                # 32-bit integers and no load under a condition: what lets the compiler vectorize it
                c_bar, c_win, c_long = np.int32(c_bars[k]), np.int32(c_wins[k]), np.int32(c_longs[k])
                held_win = _first(np.int32(hw_row[k]) | ((np.int32(1) << c_win) & -np.int32(c_win >= 0)))
                held_long = _first(np.int32(hl_row[k]) | ((np.int32(1) << c_long) & -np.int32(c_long >= 0)))
                long_event = c_long if (c_long == 0) | (c_long == 1) else np.int32(-1)
                # precedence of the horizons (classify._ORDER), the last choice first
                chosen, hk = held_long, np.int32(2)
                t = held_win >= 0
                chosen, hk = (held_win if t else chosen), (np.int32(1) if t else hk)
                t = long_event >= 0
                chosen, hk = (long_event if t else chosen), (np.int32(2) if t else hk)
                t = c_bar >= 0
                chosen, hk = (c_bar if t else chosen), (np.int32(0) if t else hk)
                t = c_win >= 0
                chosen, hk = (c_win if t else chosen), (np.int32(1) if t else hk)
                none = chosen < 0
                hk = np.int32(-1) if none else hk
                miss = missing[k]
                chosen = (np.int32(7) if miss else np.int32(8)) if none else chosen
                ow, ob, ol = o_win[k], o_bar[k], o_long[k]
                oi_chg = ow if hk == 1 else (ob if hk == 0 else ol)
                oi_th = th1 if hk == 1 else (th0 if hk == 0 else th2)
                led_b[k] = ((chosen == 0) | (chosen == 1)) & (hk >= 0) & (oi_chg > -oi_th)
                # as indices into the words of each text column, the last word being null
                out0[k] = chosen
                out1[k] = c_bar if c_bar >= 0 else 9
                out2[k] = held_win if held_win >= 0 else 9
                out3[k] = held_long if held_long >= 0 else 9
                out4[k] = hk if hk >= 0 else 3
                out5[k] = hk if hk >= 0 else 1
                out6[k] = miss
    return True


def _missing_texts() -> list[str | None]:
    """classify._missing's text of each bit mask (0: nothing missing, null)."""
    out: list[str | None] = []
    for m in range(8):
        text = ", ".join(p for b, p in enumerate(_MISSING_PARTS) if m >> b & 1)
        out.append(text or None)
    return out


@njit(**FLAT_LOOP)
def _string_views(idx, table, valid_of, views, valid):  # type: ignore[no-untyped-def]  # numba
    """Row ``i`` of ``views`` = the Arrow string view ``table[idx[i]]`` (16 bytes, one complex128: one load
    and one store, where two uint64 took twice the time) and ``valid[i]`` its word's ``valid_of`` (0 for
    a null); returns the number of valid rows. (A bit of the validity bitmap set per row, read and
    written back, cost as much as the views: numpy packs these bytes, where there is a null.)"""
    known = 0
    for i in range(idx.shape[0]):
        k = idx[i]
        views[i] = table[k]
        v = valid_of[k]
        valid[i] = v
        known += v
    return known


def _view_table(words: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray, bytes]:
    """The Arrow string view of each of ``words`` and of one more, null (16 bytes each, as one complex128:
    the length, then the bytes inline up to 12, else their first 4, buffer 0 and the offset in it),
    whether each is valid (uint8: 0 for a null word and the one more), and the buffer holding the words
    longer than 12 bytes."""
    table = np.zeros((len(words) + 1, 16), np.uint8)
    data = b""
    for k, w in enumerate(words):
        b = (w or "").encode()
        table[k, :4] = np.frombuffer(np.uint32(len(b)).tobytes(), np.uint8)
        if len(b) <= 12:
            table[k, 4 : 4 + len(b)] = np.frombuffer(b, np.uint8)
        else:
            table[k, 4:8] = np.frombuffer(b[:4], np.uint8)
            table[k, 12:16] = np.frombuffer(np.uint32(len(data)).tobytes(), np.uint8)
            data += b
    valid_of = np.array([w is not None for w in words] + [False], np.uint8)
    return table.view(np.complex128).reshape(-1), valid_of, data


def _text(idx: np.ndarray, words: Sequence[str | None], name: str) -> pl.Series:
    """Indices into ``words`` and one more, null (``len(words)``) → the words, as a String series built
    straight from Arrow string views (each row the 16-byte view of its word, pointing into one small
    buffer): no per-row string building, and half the time of polars' ``gather`` from the few words."""
    table, valid_of, data = _view_table(words)
    n = idx.shape[0]
    views, valid = np.empty(n, np.complex128), np.empty(n, np.uint8)
    nulls = n - _string_views(idx, table, valid_of, views, valid)
    # Arrow's validity bitmap (bit i & 7 of byte i >> 3), only where a row is null
    validity = pa.py_buffer(np.packbits(valid, bitorder="little")) if nulls else None
    bufs = [validity, pa.py_buffer(views), pa.py_buffer(data)]
    arr = pa.Array.from_buffers(pa.string_view(), n, bufs, null_count=nulls)
    out = pl.from_arrow(arr)
    assert isinstance(out, pl.Series)
    return out.alias(name)


def _bools(values: np.ndarray, name: str) -> pl.Expr:
    """-1/0/1 → null/False/True."""
    v = pl.lit(pl.Series(values, dtype=pl.Int8))
    return pl.when(v >= 0).then(v == 1).alias(name)


@njit(**FLAT_LOOP)
def _all_finite(x):  # type: ignore[no-untyped-def]  # numba
    """No NaN and no infinite value in ``x`` (a pass without a temporary array)."""
    for v in x:  # noqa: SIM110  # a compiled loop (numba), not a generator
        if not np.isfinite(v):
            return False
    return True


@njit(**FLAT_LOOP)
def _valid_or_nan(values, bitmap, out):  # type: ignore[no-untyped-def]  # numba
    """``values`` into ``out``, NaN where Arrow's validity ``bitmap`` (bit ``i & 7`` of byte ``i >> 3``)
    marks a null;
    False at a valid NaN or infinite value. Without a branch (a select per row), so that it runs on
    vectors: 1.4 → 0.5 ms per 420 k rows where nulls and values alternate."""
    ok = True
    for i in range(values.shape[0]):
        valid = (bitmap[i >> 3] >> (i & 7)) & 1 == 1
        v = values[i]
        ok &= (not valid) | np.isfinite(v)
        out[i] = v if valid else np.nan
    return ok


def nan_floats(s: pl.Series) -> np.ndarray:
    """A numeric column as read-only float64 with NaN for null (its values as they are, NaN and
    infinities too): the column's own memory where it has no null, else one compiled pass over its
    Arrow buffers (:func:`_valid_or_nan`), a third of polars' ``fill_null(nan).to_numpy()``."""
    values, valid = floats(s)
    if s.null_count() == 0:
        return values
    out = np.empty(s.len())
    _valid_or_nan(values, valid, out)
    out.flags.writeable = False
    return out


def _input(t: pl.DataFrame, col: str) -> np.ndarray | None:
    """A column as read-only float64 with NaN for null (read-only whatever its memory, so that the kernel
    has one compiled signature); None when it holds a NaN or an infinite value (polars orders and
    compares those its own way, so the loop would not be exact). Read from the Arrow buffers
    (:func:`~perpscope.metrics.arrow_buffers.floats`): polars' own null → NaN conversion and NaN test
    cost 4× this pass."""
    n = t.height
    if col not in t.columns:
        out = np.full(n, np.nan)
        out.flags.writeable = False
        return out
    s = t.get_column(col)
    values, valid = floats(s)
    if s.null_count() == 0:
        return values if _all_finite(values) else None  # no copy
    out = np.empty(n)
    if not _valid_or_nan(values, valid, out):
        return None
    out.flags.writeable = False
    return out


def with_grid_labels(t: pl.DataFrame, cfg: RegimeConfig, step: int) -> pl.DataFrame | None:
    """``t`` (classify's working frame after its inputs: sorted, numbered, a gapless grid of ``step``)
    with every column :func:`~perpscope.regimes.classify.classify` returns but ``evidence``, named as
    its steps name them; None where the loop cannot be exact (see the module docstring)."""
    got = [_input(t, c) for c in _IN]
    ins = tuple(x for x in got if x is not None)
    if len(ins) < len(got):
        return None
    starts = series_starts(t, [SID])
    q = grid_baseline(ins[6] + ins[7], starts, cfg.burst_baseline_ms, step, cfg.burst_quantile)
    relaxed = replace(cfg, price_move=cfg.price_move * cfg.hold_share)
    lags = np.array([rows_in(ms, step) for ms in (step, cfg.window_ms, cfg.long_window_ms)], np.int64)
    th = np.array([[*move_thresholds(cfg, h, step), move_thresholds(relaxed, h, step)[0]] for h in _HORIZONS])
    par = np.array(
        [
            cfg.funding_up_8h,
            cfg.flush_long_share,
            cfg.squeeze_short_funding_8h,
            cfg.squeeze_long_funding_8h,
            cfg.ls_short_max,
            cfg.ls_long_min,
            cfg.ratio_z,
            cfg.burst_ratio,
        ]
    )
    n = t.height
    floats, burst_w = np.empty((20, n)), np.empty((4, n), np.int8)
    flags, codes, led = np.empty((7, n), np.bool_), np.empty((7, n), np.uint8), np.empty(n, np.bool_)
    work, codes_b, ret = np.empty((6, _BLOCK), np.uint8), np.empty((4, _BLOCK), np.int8), np.empty(_BLOCK)
    cnt, tot = np.empty((3, 5), np.int64), np.empty((3, 2))
    args = (
        ins,
        q,
        starts,
        lags,
        th,
        par,
        _MASKS,
        floats,
        burst_w,
        flags,
        codes,
        led,
        work,
        codes_b,
        ret,
        cnt,
        tot,
    )
    if not label_grid(*args):
        return None
    new: list[pl.Series | pl.Expr] = []
    for h, hname in enumerate(_HORIZONS):
        sfx = SUFFIX[hname]
        new += [to_series(f"{c}{sfx}", floats[6 * h + k]) for k, c in enumerate(_PER_H)]
        new.append(_bools(burst_w[h], f"liq_burst_w{sfx}"))
    new += [to_series("funding_chg", floats[18]), to_series(BURST_RATIO, floats[19])]
    new += [pl.Series(f"is_{k}", flags[i]) for i, k in enumerate(LABELS[:-2])]
    key = names(cfg)
    new += [
        _text(codes[0], LABELS, "regime"),
        _text(codes[1], LABELS, "regime_bar"),
        _text(codes[2], LABELS, "regime_window"),
        _text(codes[3], LABELS, "regime_long"),
        _text(codes[4], _HORIZONS, "horizon_key"),
        _text(codes[5], tuple(key[h] for h in _HORIZONS), "horizon"),
        _text(codes[6], _missing_texts(), "missing"),
        pl.Series("liquidation_led", led),
    ]
    return t.with_columns(new)
