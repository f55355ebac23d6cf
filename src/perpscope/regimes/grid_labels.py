"""The regime of every bar of a gapless bar grid, computed by compiled loops.

:func:`perpscope.regimes.classify.classify` is defined by polars expressions (its named steps and
:func:`perpscope.regimes.horizons.conditions`): the inputs' changes over three horizons, liquidation sums
and a burst baseline, seven label conditions per horizon, dating, precedence, hysteresis and the choice of
the horizon. As expressions that is about a hundred columns written one after the other (0.22 s CPU per
4 symbols × a year of 5-minute bars, ``benchmarks/bench_metrics.py``). On a gapless grid every look-back
is a fixed number of rows, so :func:`label_grid` computes the same numbers row by row (one pass per
horizon, then one for the labels), each in the order polars computes it (so the same doubles), and
writes only the columns ``classify`` returns. (One pass over all three horizons measured twice as slow:
too many running sums live at once.)

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
from numba import njit

from perpscope.metrics.grid_windows import series_starts, to_series
from perpscope.regimes.bursts import BURST_RATIO, grid_baseline
from perpscope.regimes.config import LABELS, RegimeConfig
from perpscope.regimes.grid import SID, rows_in
from perpscope.regimes.horizons import DIRECTION, SUFFIX, move_thresholds, names

#: The horizons, in the order of the kernel's arrays.
_HORIZONS = ("bar", "window", "long")
#: Per horizon, the kernel's float outputs (with the horizon's suffix), in its row order.
_PER_H = ("price_chg", "oi_chg", "oi_usd_chg", "liq_long_w_usd", "liq_short_w_usd", "liq_long_share_w")
#: Label codes held with hysteresis (classify.HELD_STATES), by code: the bits of _state_conditions.
_HELD = np.array([LABELS.index(k) for k in ("new_shorts", "leverage_buildup", "latent_fragility")], np.int64)
assert tuple(_HELD) == (2, 3, 6), "_state_conditions writes the bits of these label codes"
#: Per label code, the direction of the bar's close that dates it (0: any).
_DIR = np.array([DIRECTION.get(k, 0) for k in LABELS[:-2]], np.int64)
_FLUSH, _COVER = LABELS.index("deleveraging_flush"), LABELS.index("short_covering")
_INSUFFICIENT, _NEUTRAL = LABELS.index("insufficient_data"), LABELS.index("neutral")
#: The kernel's horizon codes (0 bar, 1 window, 2 long) of the precedence order of classify's _ORDER:
#: window dated, bar, long event, window held, long held.
_MISSING_PARTS = ("price change", "OI", "funding")


@njit(cache=True, nogil=True, inline="always")
def _conditions(p, o, ou, f, fchg, share, lw, sw, burst, ls, lz, fext, pm, om, par):  # type: ignore[no-untyped-def]  # numba
    """The seven label conditions of one bar over one horizon (horizons.conditions), unknown = false,
    as bits (bit k: the condition of label code k)."""
    fu, fls, sq_short, sq_long, ls_max, ls_min, rz = par[0], par[1], par[2], par[3], par[4], par[5], par[6]
    up, down = p >= pm, p <= -pm
    oi_up, oi_down, oi_holds = o >= om, o <= -om, abs(o) < om
    funding_up = (f >= fu) or ((f > 0) and (fchg > 0))
    long_liqs = (share >= fls) and (lw > 0)
    short_liqs = (share <= 1 - fls) and (sw > 0)
    liq_led_flush = down and (o < om) and (ou <= -om) and long_liqs and burst
    liq_led_cover = up and (o < om) and short_liqs and burst
    washout = down and oi_down and burst and (share >= 1 - fls)
    if not np.isnan(ls):
        short_skew = (ls <= ls_max) or (lz <= -rz)
        long_skew = (ls >= ls_min) or (lz >= rz)
    else:
        short_skew = fext == -1
        long_skew = fext == 1
    bits = 0
    if (down and oi_down and long_liqs) or liq_led_flush or washout:
        bits |= 1
    if (up and oi_down) or liq_led_cover:
        bits |= 2
    if down and oi_up:
        bits |= 4
    if up and oi_up and funding_up:
        bits |= 8
    if (f < sq_short) and short_skew:
        bits |= 16
    if (f >= sq_long) and long_skew:
        bits |= 32
    if down and oi_holds and (f > 0):
        bits |= 64
    return bits


@njit(cache=True, nogil=True, inline="always")
def _state_conditions(p, o, f, fchg, pm, om, fu):  # type: ignore[no-untyped-def]  # numba
    """The conditions of the held states only (new shorts, build-up, fragility: bits 2, 3, 6 as in
    :func:`_conditions`), the bits the hysteresis reads at the hold's price threshold."""
    up, down = p >= pm, p <= -pm
    bits = 0
    if down and o >= om:
        bits |= 4
    if up and o >= om and ((f >= fu) or ((f > 0) and (fchg > 0))):
        bits |= 8
    if down and abs(o) < om and f > 0:
        bits |= 64
    return bits


@njit(cache=True, nogil=True, inline="always")
def _first(bits):  # type: ignore[no-untyped-def]  # numba
    """The code of the first label whose condition holds (precedence: the lowest bit), else -1."""
    for k in range(7):
        if bits >> k & 1:
            return k
    return -1


@njit(cache=True, nogil=True, inline="always")
def _dated(label, ret, ratio, share_bar, fls, close_too, direction):  # type: ignore[no-untyped-def]  # numba
    """classify._dated: the label kept on a bar whose own close moved its way (a flush: a burst bar that
    did not liquidate mostly shorts), else -1."""
    if label < 0:
        return -1
    d = direction[label]
    wrong = (d < 0 and not ret < 0) or (d > 0 and not ret > 0)
    if label == 0 and not np.isnan(ratio):
        keep = (ratio >= 1) and (share_bar >= 1 - fls) and (not wrong if close_too else True)
    else:
        keep = not wrong
    return label if keep else -1


#: Rows per block: every horizon and the labels are computed block by block, the conditions' bits kept
#: for one block only (not five arrays of every row) and each block's inputs read while in cache. (Blocks
#: of 512 to 8,192 rows measured alike, as did whole passes: the loop costs ~80 ns a row whether its data
#: fits in cache or not, so it is bound by its arithmetic, not by memory.)
_BLOCK = 2048
#: The kernel's inputs, as the working frame of classify names them (float64, NaN for null).
_IN = (
    *("_close", "_oi", "_oi_usd", "funding_8h", "ls_ratio", "ls_z"),
    *("_liq_l", "_liq_s", "_f_ext", "_panel_burst"),
)


@njit(cache=True, nogil=True)
def _horizon(h, n, lo, hi, a, pm, om, pm_hold, ins, fchg, burst, par, cnt, tot, floats, burst_w, cond, held):  # type: ignore[no-untyped-def]  # numba
    """Rows ``lo … hi − 1`` (a block of the series beginning at row ``a``) of one horizon of ``n`` rows:
    its changes, liquidation sums and share into ``floats`` rows ``6h …``, its burst flag into
    ``burst_w[h]``, its label conditions as bits into ``cond[h, i − lo]`` and with the hold's price
    threshold into ``held[h − 1, i − lo]``. The running sums of the window are carried from block to
    block in ``cnt[h]`` (long/short counts, their non-zero counts, burst hits) and ``tot[h]`` (long and
    short USD). Returns False where a change is NaN from known inputs (0 / 0). The window sums are
    :func:`~perpscope.metrics.grid_windows.grid_sum`'s arithmetic step by step (the same doubles)."""
    close, oi, oi_usd, fund, ls, lz = ins[0], ins[1], ins[2], ins[3], ins[4], ins[5]
    liq_l, liq_s, fext = ins[6], ins[7], ins[8]
    ok = True
    r = 6 * h
    c_l, c_s, nz_l, nz_s, hits = cnt[h, 0], cnt[h, 1], cnt[h, 2], cnt[h, 3], cnt[h, 4]
    t_l, t_s = tot[h, 0], tot[h, 1]
    for i in range(lo, hi):
        j = i - n
        # unsigned indices: numba checks a signed index for a negative value (counting from the end) on
        # every access; these rows are never negative (j is read only when j ≥ a), and the checks cost a
        # tenth of the whole pass
        ui, uj, ul = np.uint64(i), np.uint64(max(j, 0)), np.uint64(i - lo)
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
            p = close[ui] / close[uj] - 1.0
            o = oi[ui] / oi[uj] - 1.0
            ou = oi_usd[ui] / oi_usd[uj] - 1.0
            # 0 / 0 from known values: a NaN polars keeps as NaN (not null)
            if np.isnan(p) and not (np.isnan(close[ui]) or np.isnan(close[uj])):
                ok = False
            if np.isnan(o) and not (np.isnan(oi[ui]) or np.isnan(oi[uj])):
                ok = False
            if np.isnan(ou) and not (np.isnan(oi_usd[ui]) or np.isnan(oi_usd[uj])):
                ok = False
        else:
            p = o = ou = np.nan
        if nz_l == 0:
            t_l = 0.0
        if nz_s == 0:
            t_s = 0.0
        lw = t_l if c_l > 0 else np.nan
        sw = t_s if c_s > 0 else np.nan
        share = lw / (lw + sw) if lw + sw > 0 else np.nan
        floats[r, ui] = p
        floats[r + 1, ui] = o
        floats[r + 2, ui] = ou
        floats[r + 3, ui] = lw
        floats[r + 4, ui] = sw
        floats[r + 5, ui] = share
        bw = -1 if burst[ui] < 0 else (1 if hits > 0 else 0)
        burst_w[h, ui] = bw
        f, x, y, e = fund[ui], ls[ui], lz[ui], fext[ui]
        cond[h, ul] = _conditions(p, o, ou, f, fchg[ui], share, lw, sw, bw == 1, x, y, e, pm, om, par)
        if h > 0:
            held[h - 1, ul] = _state_conditions(p, o, f, fchg[ui], pm_hold, om, par[0])
    cnt[h, 0], cnt[h, 1], cnt[h, 2], cnt[h, 3], cnt[h, 4] = c_l, c_s, nz_l, nz_s, hits
    tot[h, 0], tot[h, 1] = t_l, t_s
    return ok


@njit(cache=True, nogil=True, error_model="numpy")
def label_grid(ins, q, starts, lags, th, par, states, direction, floats, burst_w, flags, codes, led_out):  # type: ignore[no-untyped-def]  # numba
    """Every bar's numbers and labels (see the module docstring). ``ins`` holds the inputs
    (:data:`_IN`: close, OI in coins, OI in USD, funding per 8h, L/S ratio, its z, long and short
    liquidated USD, extreme-funding sign, the panel's burst flag), float64 with NaN for unknown; ``q`` the
    burst baseline (:func:`~perpscope.regimes.bursts.grid_baseline`); ``lags`` the rows of each horizon
    (bar, window, long); ``th[h]`` = price threshold, OI threshold, relaxed price threshold (hold) of
    horizon h; ``par`` = funding_up_8h, flush_long_share, squeeze_short_funding_8h,
    squeeze_long_funding_8h, ls_short_max, ls_long_min, ratio_z, burst_ratio; ``states`` the codes held
    with hysteresis; ``direction`` per code the close that dates it.

    Writes (arrays the caller allocates: numpy's large allocations use huge pages, numba's do not, and
    page faults cost more than the loop) ``floats`` (20 × n) rows ``6h + k`` the horizon h's
    :data:`_PER_H` k, row 18 ``funding_chg``, row 19 the burst ratio (NaN unknown); ``burst_w[h]`` a burst
    bar in horizon h (-1 unknown, 0, 1); ``flags`` the window's seven conditions; ``codes`` rows, as
    indices into the words of each text column (the one past the last: null): regime, bar label, window
    label held, long label held (label codes, 9 none), horizon key (0 bar, 1 window, 2 long, 3 none),
    horizon (as the key, the window where none), missing inputs (bits: price change, OI, funding);
    ``led_out`` liquidation-led. Returns False where a change is NaN from known inputs (the caller then
    uses the polars expressions).

    Each series is computed block by block (:data:`_BLOCK` rows): the bar's burst flag and funding
    change, the three horizons, then the labels, each row's operations in the order of the polars steps.
    """
    close, fund, liq_l, liq_s, panel_burst = ins[0], ins[3], ins[6], ins[7], ins[9]
    n = close.shape[0]
    fls, burst_ratio = par[1], par[7]
    s0, s1, s2 = states[0], states[1], states[2]
    cond = np.empty((3, _BLOCK), np.uint8)
    held = np.empty((2, _BLOCK), np.uint8)
    cnt = np.zeros((3, 5), np.int64)
    tot = np.zeros((3, 2))
    burst = np.empty(n, np.int8)  # the bar's burst flag: -1 unknown, 0, 1
    fchg = floats[18]
    for s in range(starts.shape[0] - 1):
        a, b = starts[s], starts[s + 1]
        cnt[:] = 0
        tot[:] = 0.0
        in_w0 = in_w1 = in_w2 = in_l0 = in_l1 = in_l2 = -1  # last entry of each held state
        out_w0 = out_w1 = out_w2 = out_l0 = out_l1 = out_l2 = -1  # last bar where its hold failed
        for lo in range(a, b, _BLOCK):
            hi = min(lo + _BLOCK, b)
            # the bar's burst flag (classify._with_bursts) and the funding change over the window
            for i in range(lo, hi):
                liq = liq_l[i] + liq_s[i]
                floats[19, i] = np.nan
                if np.isnan(liq):
                    burst[i] = -1
                elif q[i] > 0:
                    ratio = liq / q[i]
                    floats[19, i] = ratio
                    burst[i] = 1 if ratio >= burst_ratio else 0
                else:
                    burst[i] = 1 if panel_burst[i] == 1.0 else 0
                jw = i - lags[1]
                fchg[i] = fund[i] - fund[jw] if jw >= a else np.nan
            for h in range(3):
                if not _horizon(h, lags[h], lo, hi, a, th[h, 0], th[h, 1], th[h, 2], ins, fchg, burst, par,
                                cnt, tot, floats, burst_w, cond, held):  # fmt: skip
                    return False
            for i in range(lo, hi):
                c = cond[1, i - lo]
                for k in range(7):
                    flags[k, i] = c >> k & 1
                jb = i - lags[0]
                ret = close[i] - close[jb] if jb >= a else np.nan
                ratio, share_bar = floats[19, i], floats[5, i]
                c_bar = _first(cond[0, i - lo])
                c_win = _dated(_first(c), ret, ratio, share_bar, fls, False, direction)
                c_long = _dated(_first(cond[2, i - lo]), ret, ratio, share_bar, fls, True, direction)
                # the states held with hysteresis (classify._with_held_states): held while the relaxed
                # condition holds and the last entry is no older than the last bar where it did not
                hw, hl = held[0, i - lo], held[1, i - lo]
                k0, k1, k2 = hw >> s0 & 1, hw >> s1 & 1, hw >> s2 & 1
                in_w0 = i if c_win == s0 else in_w0
                in_w1 = i if c_win == s1 else in_w1
                in_w2 = i if c_win == s2 else in_w2
                out_w0 = i if (not k0 or i == a) else out_w0
                out_w1 = i if (not k1 or i == a) else out_w1
                out_w2 = i if (not k2 or i == a) else out_w2
                held_win = _held(c_win, k0, k1, k2, in_w0, in_w1, in_w2, out_w0, out_w1, out_w2, s0, s1, s2)
                k0, k1, k2 = hl >> s0 & 1, hl >> s1 & 1, hl >> s2 & 1
                in_l0 = i if c_long == s0 else in_l0
                in_l1 = i if c_long == s1 else in_l1
                in_l2 = i if c_long == s2 else in_l2
                out_l0 = i if (not k0 or i == a) else out_l0
                out_l1 = i if (not k1 or i == a) else out_l1
                out_l2 = i if (not k2 or i == a) else out_l2
                held_long = _held(c_long, k0, k1, k2, in_l0, in_l1, in_l2, out_l0, out_l1, out_l2, s0, s1, s2)
                long_event = c_long if (c_long == 0 or c_long == 1) else -1
                # precedence of the horizons (classify._ORDER)
                if c_win >= 0:
                    chosen, hk = c_win, 1
                elif c_bar >= 0:
                    chosen, hk = c_bar, 0
                elif long_event >= 0:
                    chosen, hk = long_event, 2
                elif held_win >= 0:
                    chosen, hk = held_win, 1
                elif held_long >= 0:
                    chosen, hk = held_long, 2
                else:
                    chosen, hk = -1, -1
                miss = 0
                if np.isnan(floats[6, i]):
                    miss |= 1
                if np.isnan(floats[7, i]) and np.isnan(floats[8, i]):
                    miss |= 2
                if np.isnan(fund[i]):
                    miss |= 4
                if chosen < 0:
                    chosen = 7 if miss else 8
                led = 0
                if (chosen == 0 or chosen == 1) and hk >= 0:
                    led = 1 if floats[6 * hk + 1, i] > -th[hk, 1] else 0
                # as indices into the words of each text column, the last word being null
                codes[0, i] = chosen
                codes[1, i] = c_bar if c_bar >= 0 else 9
                codes[2, i] = held_win if held_win >= 0 else 9
                codes[3, i] = held_long if held_long >= 0 else 9
                codes[4, i] = hk if hk >= 0 else 3
                codes[5, i] = hk if hk >= 0 else 1
                codes[6, i] = miss
                led_out[i] = led
    return True


@njit(cache=True, nogil=True, inline="always")
def _held(code, k0, k1, k2, in0, in1, in2, out0, out1, out2, s0, s1, s2):  # type: ignore[no-untyped-def]  # numba
    """The first in precedence of ``code`` and the states held (condition ``k`` holds, entered no
    earlier than it last failed); -1 when none."""
    best = code
    if k0 and in0 >= 0 and in0 >= out0 and (best < 0 or s0 < best):
        best = s0
    if k1 and in1 >= 0 and in1 >= out1 and (best < 0 or s1 < best):
        best = s1
    if k2 and in2 >= 0 and in2 >= out2 and (best < 0 or s2 < best):
        best = s2
    return best


def _missing_texts() -> list[str | None]:
    """classify._missing's text of each bit mask (0: nothing missing, null)."""
    out: list[str | None] = []
    for m in range(8):
        text = ", ".join(p for b, p in enumerate(_MISSING_PARTS) if m >> b & 1)
        out.append(text or None)
    return out


@njit(cache=True, nogil=True)
def _string_views(idx, table, is_null, views, validity):  # type: ignore[no-untyped-def]  # numba
    """Row ``i`` of ``views`` = the Arrow string view ``table[idx[i]]`` (two uint64: 16 bytes), its bit of
    ``validity`` set unless ``is_null[idx[i]]``; returns the number of nulls."""
    nulls = 0
    for i in range(validity.shape[0]):
        validity[i] = 0
    for i in range(idx.shape[0]):
        k = idx[i]
        views[i, 0] = table[k, 0]
        views[i, 1] = table[k, 1]
        if is_null[k]:
            nulls += 1
        else:
            validity[i >> 3] |= np.uint8(1 << (i & 7))
    return nulls


def _view_table(words: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray, bytes]:
    """The Arrow string view of each of ``words`` and of one more, null (16 bytes each: the length, then
    the bytes inline up to 12, else their first 4, buffer 0 and the offset in it), which are null, and
    the buffer holding the words longer than 12 bytes."""
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
    is_null = np.array([w is None for w in words] + [True])
    return table.view(np.uint64).reshape(-1, 2), is_null, data


def _text(idx: np.ndarray, words: Sequence[str | None], name: str) -> pl.Series:
    """Indices into ``words`` and one more, null (``len(words)``) → the words, as a String series built
    straight from Arrow string views (each row the 16-byte view of its word, pointing into one small
    buffer): no per-row string building, and half the time of polars' ``gather`` from the few words."""
    table, is_null, data = _view_table(words)
    n = idx.shape[0]
    views, validity = np.empty((n, 2), np.uint64), np.empty((n + 7) // 8, np.uint8)
    nulls = _string_views(idx, table, is_null, views, validity)
    bufs = [pa.py_buffer(validity) if nulls else None, pa.py_buffer(views), pa.py_buffer(data)]
    arr = pa.Array.from_buffers(pa.string_view(), n, bufs, null_count=nulls)
    out = pl.from_arrow(arr)
    assert isinstance(out, pl.Series)
    return out.alias(name)


def _bools(values: np.ndarray, name: str) -> pl.Expr:
    """-1/0/1 → null/False/True."""
    v = pl.lit(pl.Series(values, dtype=pl.Int8))
    return pl.when(v >= 0).then(v == 1).alias(name)


@njit(cache=True, nogil=True)
def _all_finite(x):  # type: ignore[no-untyped-def]  # numba
    """No NaN and no infinite value in ``x`` (a pass without a temporary array)."""
    for v in x:  # noqa: SIM110  # a compiled loop (numba), not a generator
        if not np.isfinite(v):
            return False
    return True


@njit(cache=True, nogil=True)
def _valid_or_nan(values, bitmap, offset, out):  # type: ignore[no-untyped-def]  # numba
    """``values`` into ``out``, NaN where Arrow's validity ``bitmap`` (bits from ``offset``) marks a null;
    False (and stopped) at a valid NaN or infinite value."""
    for i in range(values.shape[0]):
        k = i + offset
        if bitmap[k >> 3] >> (k & 7) & 1:
            v = values[i]
            if not np.isfinite(v):
                return False
            out[i] = v
        else:
            out[i] = np.nan
    return True


def _input(t: pl.DataFrame, col: str) -> np.ndarray | None:
    """A column as read-only float64 with NaN for null (read-only whatever its memory, so that the kernel
    has one compiled signature); None when it holds a NaN or an infinite value (polars orders and
    compares those its own way, so the loop would not be exact). Read from the Arrow buffers: polars'
    own null → NaN conversion and NaN test cost 4× this pass."""
    n = t.height
    if col not in t.columns:
        out = np.full(n, np.nan)
        out.flags.writeable = False
        return out
    arr = t.get_column(col).cast(pl.Float64).to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    validity, data = arr.buffers()
    values = np.frombuffer(data, np.float64, n, arr.offset * 8)
    if validity is None or arr.null_count == 0:
        return values if _all_finite(values) else None  # no copy
    out = np.empty(n)
    if not _valid_or_nan(values, np.frombuffer(validity, np.uint8), arr.offset, out):
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
    floats, burst_w = np.empty((20, n)), np.empty((3, n), np.int8)
    flags, codes, led = np.empty((7, n), np.bool_), np.empty((7, n), np.uint32), np.empty(n, np.bool_)
    if not label_grid(ins, q, starts, lags, th, par, _HELD, _DIR, floats, burst_w, flags, codes, led):
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
