"""The evidence sentences of episodes written by one compiled loop instead of a chain of polars string
expressions.

:func:`perpscope.regimes.classify.episodes` writes, for each of often a hundred thousand episodes of a
chunk of symbols, the sentence of its first bar (when ``classify`` was run with ``evidence=False``) and a
summary of the episode. As polars expressions that is some thirty string columns per sentence, each
allocated and concatenated (0.29 s CPU per 4 symbols × a year of 5-minute bars,
``benchmarks/bench_metrics.py``); these loops write each sentence once, straight into an Arrow buffer.

The text must stay byte-identical to the polars expressions of :mod:`perpscope.regimes.evidence_text`,
which remain the definition. So the split of work is:

- polars computes every number exactly as those expressions do (the same roundings, picks and
  scalings), as numeric columns;
- the loops only write those numbers as text: a float rounded to ``d`` decimals as Python and polars
  write it (``repr``: ``"12.0"``, ``"-0.0"``, ``"1.05"``, ``"1.5"``), integers, and fixed literals;
- a number the loop cannot write with certainty (NaN, infinite, beyond 1e12, or a rounded value that is
  not the double nearest ``n / 10^d``) makes the loop decline the row, and the caller writes that row
  with the polars expressions (:data:`DECLINED`). Nulls arrive as NaN; real NaNs are found by the caller
  and declined before the loop.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
from numba.core import cgutils, types
from numba.extending import intrinsic

from perpscope.core.jit import njit
from perpscope.metrics import arrow_buffers as ab
from perpscope.regimes.run_ranges import range_step

U8 = np.uint8


def _b(text: str) -> np.ndarray:
    """UTF-8 bytes of a literal, as the uint8 array the loops copy."""
    return np.frombuffer(text.encode(), dtype=U8).copy()


# fixed literals of the sentences (numba freezes module-level arrays into the compiled code)
_NA = _b("n/a")
_OVER = _b("over ")
_PRICE = _b(": price ")
_OI = _b(", OI ")
_IN_COINS = _b(" in coins, ")
_IN_USD = _b(" in USD")
_LIQ_LONG = _b(", liq long ")
_SHORT = _b(" / short ")
_LONG_OPEN = _b(" (long ")
_PCT_CLOSE = _b("%)")
_FUNDING = _b("; funding ")
_PER_8H = _b(" per 8h (Δ ")
_PP = _b(" pp")
_LS = _b(", L/S ")
_Z = _b(" (z ")
_MISSING = _b("; insufficient data: no ")
_PARTIAL = _b("; bar not complete (partial)")
_LED_FLUSH = _b(
    "; liquidation-led: OI in coins held while OI in USD fell — new shorts took the liquidated longs' side"
)
_LED_OTHER = _b("; liquidation-led: shorts liquidated into the rally, no new positions in coins")
_OVER_BARS = _b("; over ")
_BAR = _b(" bar")
_BARS = _b(" bars")
_RANGE = _b(" … ")
_LONG_LIQ = _b(", long liq up to ")
_PCT = _b("%")
_UNITS = _b(" kMB")  # usd unit codes 1, 2, 3 (0: whole dollars, no unit)

#: Largest magnitude the loops write; larger numbers are left to polars (exact decimal form assured).
_MAX = 1e12


# Compiled functions come in two kinds. The loops are called from Python (they allocate the text buffer
# and its offsets); the row and number writers only from the loops, so numba builds them no Python or C
# entry point (building those was ~0.8 s of a cold start), and they run without reference counting
# (``_nrt=False``: they allocate nothing; otherwise every array passed to them has its count raised and
# dropped, two atomic operations, at every call: 4 of 28 ms per 4-symbol chunk).
_LOOP: dict[str, Any] = {"cache": True, "nogil": True, "no_cfunc_wrapper": True}
_WRITER: dict[str, Any] = {**_LOOP, "no_cpython_wrapper": True, "_nrt": False}
_loop, _writer = njit(**_LOOP), njit(**_WRITER)


def _copy_typing(typingctx, buf, p, s):  # type: ignore[no-untyped-def]  # numba
    """Copies the bytes of ``s`` into ``buf`` at ``p`` (the caller made room) as one ``memcpy``; returns
    ``p + len(s)``.

    Not a loop: LLVM vectorized each byte-copy loop of a text whose length is known only at run time
    (64-byte blocks, their bytes stored one by one: ~300 lines of IR per copy), which made half of the
    writers' first compile; and not ``buf[p : p + n] = s``, whose shape check compiles a formatted
    error message (numba's string functions: ~1 s more)."""

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        dst = context.make_array(sig.args[0])(context, builder, args[0])
        src = context.make_array(sig.args[2])(context, builder, args[2])
        n = builder.extract_value(src.shape, 0)
        cgutils.raw_memcpy(builder, builder.gep(dst.data, [args[1]]), src.data, n, 1)
        return builder.add(args[1], n)

    return types.int64(buf, types.int64, s), codegen


_lit: Any = intrinsic(_copy_typing)


@_writer
def _uint(buf, p, u):  # type: ignore[no-untyped-def]  # numba
    """Decimal digits of the integer ``u ≥ 0``.

    The digits are worked out in unsigned arithmetic (here and in :func:`_frac`, :func:`_fixed3`):
    Python's floor division and modulo of signed integers, which numba keeps, cost a sign correction
    on every digit; unsigned, a division by 10 is a multiply and a shift (the evidence loop 34 → 27 ms
    per 4-symbol chunk)."""
    x = np.uint64(u)
    ten = np.uint64(10)
    k, t = 1, x // ten
    while t > 0:
        k += 1
        t //= ten
    q = p + k - 1
    for j in range(k):
        buf[q - j] = np.uint8(48 + x % ten)
        x //= ten
    return p + k


@_writer
def _exact(v, d):  # type: ignore[no-untyped-def]  # numba
    """``|v| × 10^d`` (``d``: 1 or 2) as an integer when ``|v|`` is the double nearest that integer / 10^d,
    else -1."""
    a = abs(v)
    if not a < _MAX:  # NaN too
        return -1
    m = 10.0 if d == 1 else 100.0  # d is 1 or 2 (a literal, not pow(): this runs ~10× per sentence)
    n = np.rint(a * m)
    if n / m != a:
        return -1
    return np.int64(n)


@_writer
def _frac(buf, p, n, d):  # type: ignore[no-untyped-def]  # numba
    """``n / 10^d`` written as repr writes the double nearest it: at least one decimal, no trailing zero
    beyond it (``150, 2`` → ``1.5``; ``100, 2`` → ``1.0``; ``105, 2`` → ``1.05``)."""
    x = np.uint64(n)
    ten = np.uint64(10)
    m = ten if d == 1 else np.uint64(100)
    p = _uint(buf, p, np.int64(x // m))  # one signature of _uint: int64
    buf[p] = 46  # "."
    p += 1
    f, k = x % m, d
    while k > 1 and f % ten == 0:
        f //= ten
        k -= 1
    for j in range(k):
        buf[p + k - 1 - j] = np.uint8(48 + f % ten)
        f //= ten
    return p + k


@_writer
def _repr(buf, p, v, d):  # type: ignore[no-untyped-def]  # numba
    """``v`` (already rounded to ``d`` decimals) as polars casts it to text; p < 0 when it cannot."""
    n = _exact(v, d)
    if n < 0:
        return -1
    if v < 0 or (v == 0 and math.copysign(1.0, v) < 0):  # "-0.0" keeps its sign, as in repr
        buf[p] = 45
        p += 1
    return _frac(buf, p, n, d)


@_writer
def _pct(buf, p, v):  # type: ignore[no-untyped-def]  # numba
    """:func:`~perpscope.regimes.evidence_text.pct_expr` of ``v`` = ``(x × 100).round(1)`` (NaN: null)."""
    if np.isnan(v):
        return _lit(buf, p, _NA)
    if v > 0:
        buf[p] = 43  # "+"
        p += 1
    p = _repr(buf, p, v, 1)
    if p < 0:
        return -1
    buf[p] = 37  # "%"
    return p + 1


@_writer
def _usd(buf, p, v, unit, neg):  # type: ignore[no-untyped-def]  # numba
    """:func:`~perpscope.regimes.evidence_text.usd_expr`: ``v`` is the scaled amount rounded to one
    decimal (``unit`` 1/2/3: k/M/B) or the whole dollars (``unit`` 0); ``neg``: the amount was < 0."""
    if np.isnan(v):
        return _lit(buf, p, _NA)
    if neg:
        buf[p] = 45
        p += 1
    buf[p] = 36  # "$"
    p += 1
    if unit > 0:
        n = _exact(v, 1)
        if n < 0:
            return -1
        p = _frac(buf, p, n, 1)
        buf[p] = _UNITS[unit]
        return p + 1
    a = abs(v)
    if not a < _MAX or a != np.floor(a):
        return -1
    return _uint(buf, p, np.int64(a))


@_writer
def _fixed3(buf, p, v, tail):  # type: ignore[no-untyped-def]  # numba
    """:func:`~perpscope.regimes.evidence_text.rate_expr` / ``pp_expr``: ``v`` = ``(x × 100 × 1000)
    .round(0)``, written with three decimals and ``tail``; NaN (null) → ``n/a``."""
    if np.isnan(v):
        return _lit(buf, p, _NA)
    a = abs(v)
    if not a < _MAX or a != np.floor(a):
        return -1
    n = np.int64(a)
    if v > 0 and n > 0:
        buf[p] = 43
        p += 1
    elif v < 0 and n > 0:
        buf[p] = 45
        p += 1
    x = np.uint64(n)
    ten = np.uint64(10)
    p = _uint(buf, p, np.int64(x // np.uint64(1000)))
    buf[p] = 46
    p += 1
    f = x % np.uint64(1000)
    for j in range(3):
        buf[p + 2 - j] = np.uint8(48 + f % ten)
        f //= ten
    return _lit(buf, p + 3, tail)


# The buffer check is inlined into the loops (it allocates: the writers cannot). The writers stay calls:
# inlining them made numba's first compile (an empty cache: a new install's first run) 6 s longer, and
# making a function larger costs more than linearly (the row writers inlined into episode_table: +1.2 s).

#: Bytes per row first reserved for the sentences (about their usual length; the buffer grows when they
#: run longer): reserving the worst case per row took a fresh, page-faulting block on every call.
_TYPICAL_OPENING = 224
_TYPICAL_SUMMARY = 96


@njit(cache=True, nogil=True, inline="always")
def _room(buf, p, width):  # type: ignore[no-untyped-def]  # numba
    """``buf`` with at least ``width`` bytes free after ``p`` (doubled and copied when it has not)."""
    if p + width <= buf.shape[0]:
        return buf
    grown = np.empty(max(2 * buf.shape[0], p + width), dtype=U8)
    _lit(grown, 0, buf[:p])
    return grown


@_writer
def _opening_row(  # type: ignore[no-untyped-def]  # numba
    buf,
    p,
    h_text,
    price,
    oi,
    oi_usd,
    liq_has,
    liq_l,
    liq_l_unit,
    liq_l_neg,
    liq_s,
    liq_s_unit,
    liq_s_neg,
    share,
    burst,
    burst_text,
    fund,
    fund_chg,
    window_text,
    ls,
    lz,
    led,
    flush,
    has_m,
    m_text,
    partial,
):
    """One row's opening sentence written at ``p`` from its values (``h_text``, ``m_text``: its horizon
    and missing text): its end, or -1 when the row must be declined.

    The row's numbers arrive as scalars, not as the columns and a row index: every array passed to a
    compiled function that is not inlined has its reference count raised and dropped (two atomic
    operations) per call, and thirty columns per row made most of the loop's time."""
    p = _lit(buf, p, _OVER)
    p = _lit(buf, p, h_text)
    p = _lit(buf, p, _PRICE)
    p = _pct(buf, p, price)
    if p >= 0:
        p = _lit(buf, p, _OI)
        p = _pct(buf, p, oi)
    if p >= 0:
        p = _lit(buf, p, _IN_COINS)
        p = _pct(buf, p, oi_usd)
    if p >= 0:
        p = _lit(buf, p, _IN_USD)
    if p >= 0 and liq_has:
        p = _lit(buf, p, _LIQ_LONG)
        p = _usd(buf, p, liq_l, liq_l_unit, liq_l_neg)
        if p >= 0:
            p = _lit(buf, p, _SHORT)
            p = _usd(buf, p, liq_s, liq_s_unit, liq_s_neg)
        if p >= 0 and not np.isnan(share):
            s = share
            if not abs(s) < _MAX:
                p = -1
            else:
                p = _lit(buf, p, _LONG_OPEN)
                if s <= -1:
                    buf[p] = 45
                    p += 1
                p = _uint(buf, p, np.int64(abs(s)))
                p = _lit(buf, p, _PCT_CLOSE)
        if p >= 0 and burst:
            p = _lit(buf, p, burst_text)
    if p >= 0:
        p = _lit(buf, p, _FUNDING)
        p = _fixed3(buf, p, fund, _PCT)
    if p >= 0:
        p = _lit(buf, p, _PER_8H)
        p = _lit(buf, p, window_text)
        buf[p] = 32
        p = _fixed3(buf, p + 1, fund_chg, _PP)
    if p >= 0:
        buf[p] = 41  # ")"
        p += 1
        if not np.isnan(ls):
            p = _lit(buf, p, _LS)
            p = _repr(buf, p, ls, 2)
            if p >= 0 and not np.isnan(lz):
                p = _lit(buf, p, _Z)
                p = _repr(buf, p, lz, 1)
                if p >= 0:
                    buf[p] = 41
                    p += 1
    if p >= 0:
        if led:
            p = _lit(buf, p, _LED_FLUSH if flush else _LED_OTHER)
        if has_m:
            p = _lit(buf, p, _MISSING)
            p = _lit(buf, p, m_text)
        if partial:
            p = _lit(buf, p, _PARTIAL)
    return p


@_loop
def _openings(  # type: ignore[no-untyped-def]  # numba
    need,
    declined,
    h_code,
    h_data,
    h_off,
    price,
    oi,
    oi_usd,
    liq_has,
    liq_l,
    liq_l_unit,
    liq_l_neg,
    liq_s,
    liq_s_unit,
    liq_s_neg,
    share,
    burst,
    burst_text,
    fund,
    fund_chg,
    window_text,
    ls,
    lz,
    led,
    flush,
    m_code,
    m_data,
    m_off,
    partial,
    width,
):
    n = need.shape[0]
    buf = np.empty(n * _TYPICAL_OPENING + width, dtype=U8)
    offs = np.zeros(n + 1, dtype=np.int64)
    p = np.int64(0)  # not a literal 0: the row writers would compile once more for it
    for i in range(n):
        buf = _room(buf, p, width)
        start = p
        h, m = h_code[i], m_code[i]
        if need[i] and not declined[i] and h >= 0:
            p = _opening_row(
                buf,
                p,
                h_data[h_off[h] : h_off[h + 1]],
                price[i],
                oi[i],
                oi_usd[i],
                liq_has[i],
                liq_l[i],
                liq_l_unit[i],
                liq_l_neg[i],
                liq_s[i],
                liq_s_unit[i],
                liq_s_neg[i],
                share[i],
                burst[i],
                burst_text,
                fund[i],
                fund_chg[i],
                window_text,
                ls[i],
                lz[i],
                led[i],
                flush[i],
                m >= 0,
                m_data[m_off[m] : m_off[m + 1]] if m >= 0 else m_data[:0],
                partial[i],
            )
            if p < 0:
                declined[i] = True
                p = start
        elif need[i]:  # declined before, or no horizon
            declined[i] = True
        offs[i + 1] = p
    return buf[:p], offs


@_writer
def _summary_row(  # type: ignore[no-untyped-def]  # numba
    buf,
    p,
    bars,
    changes_text,
    has_price,
    p_min,
    p_max,
    has_oi,
    o_min,
    o_max,
    has_liq,
    liq,
    liq_unit,
    liq_neg,
):
    """One row's summary written at ``p`` from its values (scalars, as :func:`_opening_row`): its end,
    or -1 when the row must be declined."""
    p = _lit(buf, p, _OVER_BARS)
    p = _uint(buf, p, bars)
    p = _lit(buf, p, _BAR if bars == 1 else _BARS)
    p = _lit(buf, p, changes_text)
    if has_price:
        p = _lit(buf, p, _PRICE)
        p = _pct(buf, p, p_min)
        if p >= 0:
            p = _lit(buf, p, _RANGE)
            p = _pct(buf, p, p_max)
    if p >= 0 and has_oi:
        p = _lit(buf, p, _OI)
        p = _pct(buf, p, o_min)
        if p >= 0:
            p = _lit(buf, p, _RANGE)
            p = _pct(buf, p, o_max)
    if p >= 0 and has_liq and not np.isnan(liq):
        p = _lit(buf, p, _LONG_LIQ)
        p = _usd(buf, p, liq, liq_unit, liq_neg)
    return p


@_loop
def _summaries(  # type: ignore[no-untyped-def]  # numba
    declined,
    bars,
    changes_text,
    has_price,
    p_min,
    p_max,
    has_oi,
    o_min,
    o_max,
    has_liq,
    liq,
    liq_unit,
    liq_neg,
    width,
):
    n = bars.shape[0]
    buf = np.empty(n * _TYPICAL_SUMMARY + width, dtype=U8)
    offs = np.zeros(n + 1, dtype=np.int64)
    p = np.int64(0)  # not a literal 0: the row writers would compile once more for it
    for i in range(n):
        buf = _room(buf, p, width)
        start = p
        if not declined[i]:
            p = _summary_row(
                buf,
                p,
                bars[i],
                changes_text,
                has_price,
                p_min[i],
                p_max[i],
                has_oi,
                o_min[i],
                o_max[i],
                has_liq,
                liq[i],
                liq_unit[i],
                liq_neg[i],
            )
            if p < 0:
                declined[i] = True
                p = start
        offs[i + 1] = p
    return buf[:p], offs


@_loop
def _evidences(  # type: ignore[no-untyped-def]  # numba
    declined,
    prefix,
    h_code,
    h_data,
    h_off,
    price,
    oi,
    oi_usd,
    liq_has,
    liq_l,
    liq_l_unit,
    liq_l_neg,
    liq_s,
    liq_s_unit,
    liq_s_neg,
    share,
    burst,
    burst_text,
    fund,
    fund_chg,
    window_text,
    ls,
    lz,
    led,
    flush,
    m_code,
    m_data,
    m_off,
    partial,
    bars,
    changes_text,
    has_price,
    p_min,
    p_max,
    has_oi,
    o_min,
    o_max,
    has_liq,
    liq,
    liq_unit,
    liq_neg,
    width,
):
    """``prefix`` + opening + summary of every row, written once (no intermediate columns to join)."""
    n = declined.shape[0]
    buf = np.empty(n * (_TYPICAL_OPENING + _TYPICAL_SUMMARY) + width, dtype=U8)
    offs = np.zeros(n + 1, dtype=np.int64)
    p = np.int64(0)  # not a literal 0: the row writers would compile once more for it
    for i in range(n):
        buf = _room(buf, p, width)
        start = p
        h, m = h_code[i], m_code[i]
        if not declined[i] and h < 0:
            declined[i] = True
        elif not declined[i]:
            p = _lit(buf, p, prefix)
            p = _opening_row(
                buf,
                p,
                h_data[h_off[h] : h_off[h + 1]],
                price[i],
                oi[i],
                oi_usd[i],
                liq_has[i],
                liq_l[i],
                liq_l_unit[i],
                liq_l_neg[i],
                liq_s[i],
                liq_s_unit[i],
                liq_s_neg[i],
                share[i],
                burst[i],
                burst_text,
                fund[i],
                fund_chg[i],
                window_text,
                ls[i],
                lz[i],
                led[i],
                flush[i],
                m >= 0,
                m_data[m_off[m] : m_off[m + 1]] if m >= 0 else m_data[:0],
                partial[i],
            )
            if p >= 0:
                p = _summary_row(
                    buf,
                    p,
                    bars[i],
                    changes_text,
                    has_price,
                    p_min[i],
                    p_max[i],
                    has_oi,
                    o_min[i],
                    o_max[i],
                    has_liq,
                    liq[i],
                    liq_unit[i],
                    liq_neg[i],
                )
            if p < 0:
                declined[i] = True
                p = start
        offs[i + 1] = p
    return buf[:p], offs


def strings(name: str, data: np.ndarray, offsets: np.ndarray) -> pl.Series:
    """A String series over the loop's bytes and offsets (one row per offset pair)."""
    arr = pa.LargeStringArray.from_buffers(
        offsets.shape[0] - 1, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data))
    )
    out = pl.from_arrow(arr)
    assert isinstance(out, pl.Series)
    return out.cast(pl.String).alias(name)


def _table(s: pl.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A string column as codes into a table of its distinct values (bytes and offsets); null: -1."""
    values = s.drop_nulls().unique(maintain_order=True)
    encoded = [v.encode() for v in values.to_list()]
    off = np.zeros(len(encoded) + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(e) for e in encoded]) if encoded else []
    data = _fixed(np.frombuffer(b"".join(encoded), dtype=U8).copy() if encoded else np.zeros(0, dtype=U8))
    # an Enum of the values in that order: its physical codes are their indices (3× faster than a
    # replace_strict of the strings)
    codes = s.cast(pl.Enum(values)).to_physical().cast(pl.Int64)
    return _fixed(codes.fill_null(-1).to_numpy()), data, off


def _fixed(x: np.ndarray) -> np.ndarray:
    """``x`` made read-only: polars hands out read-only views or writable copies depending on nulls, and
    numba compiled the loops once per mix (7 signatures of ``_openings`` at ~4 s each on a cold cache,
    reading the shared store's panels)."""
    x.flags.writeable = False
    return x


def _floats(df: pl.DataFrame, col: str) -> np.ndarray:
    s = df.get_column(col).cast(pl.Float64)
    return _fixed(s.fill_null(np.nan).to_numpy() if s.null_count() else s.to_numpy())


def _bools(df: pl.DataFrame, col: str) -> np.ndarray:
    return _fixed(df.get_column(col).fill_null(False).to_numpy())


def _ints(df: pl.DataFrame, col: str) -> np.ndarray:
    return _fixed(df.get_column(col).cast(pl.Int64).to_numpy())


def _width(parts: int, *texts: str) -> int:
    """Most bytes one row can take: the fixed literals (under 400 bytes), 24 per number (at most 19
    characters below 1e12) and the variable ``texts``."""
    return 400 + 24 * parts + sum(len(t.encode()) for t in texts)


def _opening_args(nums: pl.DataFrame, burst_text: str, window_text: str) -> tuple[tuple[object, ...], int]:
    """The arrays :func:`_opening_row` reads, from ``nums`` (see :func:`openings`), and the most bytes
    one sentence can take."""
    h_code, h_data, h_off = _table(nums.get_column("horizon"))
    m_code, m_data, m_off = _table(nums.get_column("missing"))
    f = {
        c: _floats(nums, c)
        for c in ("price", "oi", "oi_usd", "liq_l", "liq_s", "share", "fund", "fund_chg", "ls", "lz")
    }
    tables = bytes(h_data).decode() + bytes(m_data).decode()
    args = (
        h_code,
        h_data,
        h_off,
        f["price"],
        f["oi"],
        f["oi_usd"],
        _bools(nums, "liq_has"),
        f["liq_l"],
        _ints(nums, "liq_l_unit"),
        _bools(nums, "liq_l_neg"),
        f["liq_s"],
        _ints(nums, "liq_s_unit"),
        _bools(nums, "liq_s_neg"),
        f["share"],
        _bools(nums, "burst"),
        _fixed(_b(burst_text)),
        f["fund"],
        f["fund_chg"],
        _fixed(_b(window_text)),
        f["ls"],
        f["lz"],
        _bools(nums, "led"),
        _bools(nums, "flush"),
        m_code,
        m_data,
        m_off,
        _bools(nums, "partial"),
    )
    return args, _width(10, burst_text, window_text, tables)


def _summary_args(nums: pl.DataFrame, changes_text: str) -> tuple[tuple[object, ...], int]:
    """The arrays :func:`_summary_row` reads, from ``nums`` (see :func:`summaries`), and the most bytes
    one summary can take."""
    n = nums.height
    none = _fixed(np.full(n, np.nan))
    has = {c: c in nums.columns for c in ("p_min", "o_min", "liq")}
    args = (
        _ints(nums, "bars"),
        _fixed(_b(changes_text)),
        has["p_min"],
        _floats(nums, "p_min") if has["p_min"] else none,
        _floats(nums, "p_max") if has["p_min"] else none,
        has["o_min"],
        _floats(nums, "o_min") if has["o_min"] else none,
        _floats(nums, "o_max") if has["o_min"] else none,
        has["liq"],
        _floats(nums, "liq") if has["liq"] else none,
        _ints(nums, "liq_unit") if has["liq"] else _fixed(np.zeros(n, dtype=np.int64)),
        _bools(nums, "liq_neg") if has["liq"] else _fixed(np.zeros(n, dtype=np.bool_)),
    )
    return args, _width(5, changes_text)


def openings(nums: pl.DataFrame, burst_text: str, window_text: str) -> tuple[pl.Series, np.ndarray]:
    """The first-bar sentences of the rows of ``nums`` with ``need``, and the rows declined.

    ``nums`` holds the numbers of :func:`perpscope.regimes.classify._evidence`, computed by polars:
    ``need, nan`` (bool: write the row; one of its inputs is a real NaN), ``horizon, missing`` (text),
    ``price, oi, oi_usd`` (percent rounded to 0.1), ``liq_has``, ``liq_l, liq_s`` with ``_unit, _neg``
    (see :func:`_usd`), ``share`` (percent rounded to 1), ``burst``, ``fund, fund_chg`` (rate × 10⁵
    rounded), ``ls`` (rounded to 0.01), ``lz`` (to 0.1), ``led, flush, partial`` (bool).
    Returns the sentences ("" where not needed or declined) and the rows declined (needed but not
    written: the caller writes them with the polars expressions).
    """
    need = _bools(nums, "need")
    declined = _bools(nums, "nan") & need
    args, width = _opening_args(nums, burst_text, window_text)
    data, offs = _openings(need, declined, *args, width)
    return strings("_opening", data, offs), declined


def summaries(nums: pl.DataFrame, changes_text: str) -> tuple[pl.Series, np.ndarray]:
    """The episode summaries (``"; over 3 bars (1d changes): price … , OI …, long liq up to …"``).

    ``nums``: ``nan`` (a real NaN among the inputs), ``bars``, and where the episode table has them
    ``p_min, p_max, o_min, o_max`` (percent rounded to 0.1) and ``liq`` with ``liq_unit, liq_neg``.
    Returns the summaries ("" where declined) and the rows declined.
    """
    declined = _bools(nums, "nan").copy()
    args, width = _summary_args(nums, changes_text)
    data, offs = _summaries(declined, *args, width)
    return strings("_summary", data, offs), declined


def evidences(
    prefix: str,
    opening_nums: pl.DataFrame,
    burst_text: str,
    window_text: str,
    summary_nums: pl.DataFrame,
    changes_text: str,
) -> tuple[pl.Series, np.ndarray]:
    """``prefix`` + the opening sentence (:func:`openings`, every row needed) + the summary
    (:func:`summaries`) of each row, written straight into one column (an episode's whole evidence,
    without the two intermediate columns and their join), and the rows declined by either (``""``
    there: the caller writes them with the polars expressions)."""
    declined = _bools(opening_nums, "nan") | _bools(summary_nums, "nan")
    o_args, o_width = _opening_args(opening_nums, burst_text, window_text)
    s_args, s_width = _summary_args(summary_nums, changes_text)
    width = o_width + s_width + len(prefix.encode())
    data, offs = _evidences(declined, _fixed(_b(prefix)), *o_args, *s_args, width)
    return strings("evidence", data, offs), declined


# -- episodes read straight from a labels frame: one compiled pass, no per-episode gathers ------------

#: Order of the float columns :func:`episode_table` reads: each of :data:`PICKED` at the window, bar and
#: long horizons (index ``3 × k + h``, h: 0 window, 1 bar, 2 long), then :data:`FIRST_BAR`.
PICKED = ("price_chg", "oi_chg", "oi_usd_chg", "liq_long_w_usd", "liq_short_w_usd", "liq_long_share_w")
FIRST_BAR = ("funding_8h", "funding_chg", "ls_ratio", "ls_z")
#: The Boolean columns: the burst flag at each horizon, then these two.
FLAGS = ("liquidation_led", "partial")
#: The text columns.
TEXTS = ("horizon", "missing", "horizon_key", "regime")

# The loops below read bits, string views and columns by hand, in place: every array handed to a
# compiled function that is not inlined has its reference count raised and dropped (atomics), which
# per episode (and per bar in run_starts) cost more than the work (a first version through small
# helpers: 156 ms per 4-symbol chunk instead of ~20).


def view_words(text: str) -> tuple[np.uint64, np.uint64]:
    """The two 64-bit words of the Arrow string view of ``text`` (at most 12 bytes: inline)."""
    b = text.encode()
    assert len(b) <= 12
    raw = np.zeros(16, U8)
    raw[:4] = np.frombuffer(np.uint32(len(b)).tobytes(), U8)
    raw[4 : 4 + len(b)] = np.frombuffer(b, U8)
    w = raw.view(np.uint64)
    return w[0], w[1]


@_writer
def _inline_mask(n):  # type: ignore[no-untyped-def]  # numba
    """Masks of the bytes of a view's two words that hold an inline text of ``n`` bytes (≤ 12): the
    length and the text, not the padding."""
    one = np.uint64(0xFFFFFFFFFFFFFFFF)
    if n >= 4:
        m0 = one
        m1 = one if n >= 12 else (np.uint64(1) << np.uint64(8 * (n - 4))) - np.uint64(1)
    else:
        m0 = (np.uint64(1) << np.uint64(32 + 8 * n)) - np.uint64(1)
        m1 = np.uint64(0)
    return m0, m1


@_writer
def _data_at(w1, starts):  # type: ignore[no-untyped-def]  # numba
    """Where the text of a view whose second word is ``w1`` (a text over 12 bytes) begins in the data:
    its buffer's start plus its offset."""
    return starts[np.int64(w1 & np.uint64(0xFFFFFFFF))] + np.int64(w1 >> np.uint64(32))


@_writer
def _long_texts_equal(words, data, starts, i, j, n):  # type: ignore[no-untyped-def]  # numba
    """Rows ``i`` and ``j`` (texts of ``n`` > 12 bytes each) hold the same bytes (the rare case of the
    same word stored twice: called only then)."""
    ai, aj = _data_at(words[i, 1], starts), _data_at(words[j, 1], starts)
    for k in range(n):  # noqa: SIM110  # a compiled loop (numba), not a generator
        if data[ai + k] != data[aj + k]:
            return False
    return True


@_loop
def run_starts(sid, words, data, starts, valid):  # type: ignore[no-untyped-def]  # numba
    """First row of each run of one regime within one series (``sid``), as ``episodes`` defines a run:
    a row starts one where the series or the regime changes, or where its or the previous row's regime
    is null (polars' ``regime != regime.shift(1)``, null filled with True). The regime column as Arrow
    string views: ``words`` (two uint64 per row), ``data``, ``starts`` (data buffers), ``valid``
    (bitmap)."""
    n = sid.shape[0]
    out = np.empty(n, np.int64)
    k = 0
    for i in range(n):
        new = i == 0 or sid[i] != sid[i - 1]
        if not new:
            j = i - 1
            new = not ((valid[i >> 3] >> (i & 7)) & 1) or not ((valid[j >> 3] >> (j & 7)) & 1)
        if not new:
            a0, a1, b0, b1 = words[i, 0], words[i, 1], words[j, 0], words[j, 1]
            if a0 != b0 or a1 != b1:
                size = np.int64(a0 & np.uint64(0xFFFFFFFF))
                if size != np.int64(b0 & np.uint64(0xFFFFFFFF)):
                    new = True
                elif size <= 12:  # inline: equal unless the text bytes differ (padding aside)
                    m0, m1 = _inline_mask(size)
                    new = (a0 & m0) != (b0 & m0) or (a1 & m1) != (b1 & m1)
                else:  # same length, other place: equal prefixes, then the bytes
                    new = (a0 != b0) or not _long_texts_equal(words, data, starts, i, j, size)
        if new:
            out[k] = i
            k += 1
    return out[:k].copy()


@_writer
def _round(v, m):  # type: ignore[no-untyped-def]  # numba
    """polars' ``round(d)`` with ``m = 10^d``: half to even of ``v × m``, over ``m``."""
    return np.rint(v * m) / m


@_writer
def _usd_unit(x):  # type: ignore[no-untyped-def]  # numba
    """(amount, unit, neg) of :func:`perpscope.regimes.classify._usd_parts` for ``x`` (NaN: null)."""
    if np.isnan(x):
        return np.nan, 0, False
    a = abs(x)
    # polars divides a column by a number as a product with its reciprocal (x / 1e6 is x × 1e-6,
    # which differs in the last bit for a quarter of amounts and so in a tie's rounding)
    if a >= 1e9:
        return _round(x * (1.0 / 1e9), 10.0), 3, x < 0
    if a >= 1e6:
        return _round(x * (1.0 / 1e6), 10.0), 2, x < 0
    if a >= 1e3:
        return _round(x * (1.0 / 1e3), 10.0), 1, x < 0
    return np.rint(x), 0, x < 0


@_writer
def _is_word(words, views, data, starts, i, word):  # type: ignore[no-untyped-def]  # numba
    """Row ``i``'s text is ``word`` (called for the few rows that ask)."""
    n = np.int64(words[i, 0] & np.uint64(0xFFFFFFFF))
    if n != word.shape[0]:
        return False
    at = i * 16 + 4 if n <= 12 else _data_at(words[i, 1], starts)
    text = views if n <= 12 else data
    for k in range(n):  # noqa: SIM110  # a compiled loop (numba), not a generator
        if text[at + k] != word[k]:
            return False
    return True


_FLUSH = _b("deleveraging_flush")

# Rows of episode_table's bitmaps (:func:`bitmap_rows`): the validity of each float column (rows 0-17:
# PICKED at the window, bar and long horizons, row 3k + h; then FIRST_BAR), of the Boolean and text
# columns and of evidence, then the Booleans' values. One 2-D argument instead of some forty arrays:
# numba's Python entry point unboxes each array argument in its own code (~17 ms of compile per array).
_V_FIRST, _V_BURST, _V_LED, _V_PARTIAL = 18, 22, 25, 26
_V_HORIZON, _V_MISSING, _V_KEY, _V_REGIME, _V_EVIDENCE = 27, 28, 29, 30, 31
_B_BURST, _B_LED, _B_PARTIAL = 32, 35, 36


def bitmap_rows(
    floats: list[ab.Floats], bools: list[ab.Bools], texts: list[ab.Texts], evidence: np.ndarray
) -> np.ndarray:
    """The bitmaps :func:`episode_table` reads, as the rows of one read-only matrix: the validity of
    ``floats`` (:data:`PICKED` × horizons, :data:`FIRST_BAR`), of ``bools`` (bursts, :data:`FLAGS`), of
    ``texts`` (:data:`TEXTS`) and ``evidence``'s, then ``bools``' values."""
    rows = np.stack(
        [f.valid for f in floats]
        + [b.valid for b in bools]
        + [t.valid for t in texts]
        + [evidence]
        + [b.bits for b in bools]
    )
    rows.flags.writeable = False
    return rows


@_loop
def episode_table(  # type: ignore[no-untyped-def]  # numba
    starts,
    n_rows,
    fl,
    bm,
    tv,
    tw,
    td,
    ts,
    bar_key,
    long_key,
    prefix,
    burst_text,
    window_text,
    changes_text,
    width,
):
    """Every episode's evidence and ranges from the labels' full columns, read in place.

    ``starts``: first row of each run (:func:`run_starts`), the runs ending where the next begins
    (the last at ``n_rows``). ``fl``: the float columns (order: :data:`PICKED` × horizons, then
    :data:`FIRST_BAR`); ``bm``: the bitmaps (:func:`bitmap_rows`); ``tv, tw, td, ts``: views (bytes and
    two words per row), data and buffer starts of :data:`TEXTS`; ``bar_key``, ``long_key``: the view
    words of ``"bar"`` and ``"long"`` (:func:`view_words`).

    Returns the text (``prefix`` + first-bar sentence + summary where the first bar has no evidence,
    the summary alone where it has: the caller puts ``prefix`` and its evidence before it), its
    offsets, the rows declined (left to the polars definition, as in :func:`openings`) and whether each
    first bar has evidence (bytes, 0 or 1), and the ranges: ``price_chg`` max and min, ``oi_chg`` min
    and max, ``liq_long_w_usd`` max (five blocks of one value per episode), NaN where null, with their
    kinds (0: only nulls, 1: only NaN and nulls, 2: a value; blocks: price, OI, liquidations), as
    :mod:`perpscope.regimes.run_ranges`."""
    p0, p1, p2, o0, o1, o2, u0, u1, u2, l0, l1, l2, s0, s1, s2, h0, h1, h2, fu, fc, lr, lzc = fl
    hv, mv, rv = tv[0], tv[1], tv[3]
    hw, mw, kw, rw = tw[0], tw[1], tw[2], tw[3]
    hd, md, rd = td[0], td[1], td[3]
    hs, ms, rs = ts[0], ts[1], ts[3]
    bar0, bar1 = bar_key
    long0, long1 = long_key
    k = starts.shape[0]
    buf = np.empty(k * (_TYPICAL_OPENING + _TYPICAL_SUMMARY) + width, dtype=U8)
    # one allocation per element type (each type of np.empty / np.zeros compiled numba's allocator
    # once more); the caller views the bytes as Booleans and the flat ranges as rows
    offs = np.empty(k + 1, dtype=np.int64)
    offs[0] = 0
    declined = np.empty(k, dtype=U8)
    has_ev = np.empty(k, dtype=U8)
    rng = np.empty(5 * k, dtype=np.float64)
    kinds = np.empty(3 * k, dtype=U8)
    empty = hv[:0]
    low, high = np.uint64(0xFFFFFFFF), np.uint64(32)
    p = np.int64(0)  # not a literal 0: the row writers would compile once more for it
    every = np.bool_(True)  # nor literal Trues: the general loops pass Booleans
    for r in range(k):
        i = starts[r]
        last = (starts[r + 1] if r + 1 < k else n_rows) - 1
        # the ranges of the window's price and OI changes and the largest long liquidation window
        p_lo, p_hi, p_kind = np.nan, np.nan, 0
        o_lo, o_hi, o_kind = np.nan, np.nan, 0
        l_hi, l_kind = np.nan, 0
        for j in range(i, last + 1):
            byte, bit = j >> 3, j & 7
            if (bm[0, byte] >> bit) & 1:
                p_lo, p_hi, p_kind = range_step(p0[j], p_lo, p_hi, p_kind)
            if (bm[3, byte] >> bit) & 1:
                o_lo, o_hi, o_kind = range_step(o0[j], o_lo, o_hi, o_kind)
            if (bm[9, byte] >> bit) & 1:
                _, l_hi, l_kind = range_step(l0[j], l_hi, l_hi, l_kind)  # only the largest is written
        rng[r], rng[k + r], rng[2 * k + r], rng[3 * k + r], rng[4 * k + r] = p_hi, p_lo, o_lo, o_hi, l_hi
        kinds[r], kinds[k + r], kinds[2 * k + r] = p_kind, o_kind, l_kind
        buf = _room(buf, p, width)
        start = p
        bad = p_kind == 1 or o_kind == 1 or l_kind == 1  # a NaN range: the definition writes it
        byte, bit = i >> 3, i & 7
        need = not ((bm[_V_EVIDENCE, byte] >> bit) & 1)
        has_ev[r] = not need
        declined[r] = False
        if need and not bad:
            h = 0  # the horizon the label was read over: "bar", "long", else (null too) the window
            if (bm[_V_KEY, byte] >> bit) & 1:
                w0, w1 = kw[i, 0], kw[i, 1]
                if w0 == bar0 and w1 == bar1:
                    h = 1
                elif w0 == long0 and w1 == long1:
                    h = 2
            if h == 0:
                price, oi, oi_usd, liq_l, liq_s, share = p0[i], o0[i], u0[i], l0[i], s0[i], h0[i]
            elif h == 1:
                price, oi, oi_usd, liq_l, liq_s, share = p1[i], o1[i], u1[i], l1[i], s1[i], h1[i]
            else:
                price, oi, oi_usd, liq_l, liq_s, share = p2[i], o2[i], u2[i], l2[i], s2[i], h2[i]
            # their validity: rows 3k + h of the bitmaps
            price_ok = (bm[h, byte] >> bit) & 1
            oi_ok = (bm[3 + h, byte] >> bit) & 1
            oi_usd_ok = (bm[6 + h, byte] >> bit) & 1
            liq_l_ok = (bm[9 + h, byte] >> bit) & 1
            liq_s_ok = (bm[12 + h, byte] >> bit) & 1
            share_ok = (bm[15 + h, byte] >> bit) & 1
            fund, fund_ok = fu[i], (bm[_V_FIRST, byte] >> bit) & 1
            fund_chg, fund_chg_ok = fc[i], (bm[_V_FIRST + 1, byte] >> bit) & 1
            ls, ls_ok = lr[i], (bm[_V_FIRST + 2, byte] >> bit) & 1
            lz, lz_ok = lzc[i], (bm[_V_FIRST + 3, byte] >> bit) & 1
            # nulls read as NaN; a real NaN is left to the definition
            bad = not ((bm[_V_HORIZON, byte] >> bit) & 1)
            bad |= (
                (price_ok and np.isnan(price)) or (oi_ok and np.isnan(oi)) or (oi_usd_ok and np.isnan(oi_usd))
            )
            bad |= (
                (liq_l_ok and np.isnan(liq_l))
                or (liq_s_ok and np.isnan(liq_s))
                or (share_ok and np.isnan(share))
            )
            bad |= (fund_ok and np.isnan(fund)) or (fund_chg_ok and np.isnan(fund_chg))
            bad |= (ls_ok and np.isnan(ls)) or (lz_ok and np.isnan(lz))
            if not bad:
                price = price if price_ok else np.nan
                oi = oi if oi_ok else np.nan
                oi_usd = oi_usd if oi_usd_ok else np.nan
                ll, ll_unit, ll_neg = _usd_unit(liq_l if liq_l_ok else np.nan)
                ss, ss_unit, ss_neg = _usd_unit(liq_s if liq_s_ok else np.nan)
                share = share if share_ok else np.nan
                fund = fund if fund_ok else np.nan
                fund_chg = fund_chg if fund_chg_ok else np.nan
                ls = ls if ls_ok else np.nan
                lz = lz if lz_ok else np.nan
                burst = (bm[_V_BURST + h, byte] >> bit) & 1 == 1 and (bm[_B_BURST + h, byte] >> bit) & 1 == 1
                led = (bm[_V_LED, byte] >> bit) & 1 == 1 and (bm[_B_LED, byte] >> bit) & 1 == 1
                partial = (bm[_V_PARTIAL, byte] >> bit) & 1 == 1 and (bm[_B_PARTIAL, byte] >> bit) & 1 == 1
                flush = False
                if led and (bm[_V_REGIME, byte] >> bit) & 1:  # the regime's text read only where written
                    flush = _is_word(rw, rv, rd, rs, i, _FLUSH)
                # the horizon's and missing inputs' texts: inline in their views, else in their data
                q, w0, w1 = i * 16, hw[i, 0], hw[i, 1]
                n_t = np.int64(w0 & low)
                if n_t <= 12:
                    h_text = hv[q + 4 : q + 4 + n_t]
                else:
                    at = hs[np.int64(w1 & low)] + np.int64(w1 >> high)
                    h_text = hd[at : at + n_t]
                has_m = (bm[_V_MISSING, byte] >> bit) & 1 == 1
                m_text = empty
                if has_m:
                    w0, w1 = mw[i, 0], mw[i, 1]
                    n_t = np.int64(w0 & low)
                    if n_t <= 12:
                        m_text = mv[q + 4 : q + 4 + n_t]
                    else:
                        at = ms[np.int64(w1 & low)] + np.int64(w1 >> high)
                        m_text = md[at : at + n_t]
                p = _lit(buf, p, prefix)
                p = _opening_row(
                    buf,
                    p,
                    h_text,
                    _round(price * 100, 10.0),
                    _round(oi * 100, 10.0),
                    _round(oi_usd * 100, 10.0),
                    liq_l_ok == 1,
                    ll,
                    ll_unit,
                    ll_neg,
                    ss,
                    ss_unit,
                    ss_neg,
                    np.rint(share * 100),
                    burst,
                    burst_text,
                    np.rint(fund * 100 * 1000),
                    np.rint(fund_chg * 100 * 1000),
                    window_text,
                    _round(ls, 100.0),
                    _round(lz, 10.0),
                    led,
                    flush,
                    has_m,
                    m_text,
                    partial,
                )
                bad = p < 0
        if not bad:
            lq, lq_unit, lq_neg = _usd_unit(l_hi)
            p = _summary_row(
                buf,
                p,
                np.int64(last - i + 1),
                changes_text,
                every,
                _round(p_lo * 100, 10.0),
                _round(p_hi * 100, 10.0),
                every,
                _round(o_lo * 100, 10.0),
                _round(o_hi * 100, 10.0),
                every,
                lq,
                lq_unit,
                lq_neg,
            )
            bad = p < 0
        if bad:
            declined[r] = True
            p = start
        offs[r + 1] = p
    return buf[:p], offs, declined, has_ev, rng, kinds
