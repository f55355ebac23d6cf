"""Numbers written as text in the regimes' evidence: polars expressions (evidence is written for every bar
at once) and their Python twins for single values."""

from __future__ import annotations

import polars as pl


def pct_expr(x: pl.Expr, digits: int = 1) -> pl.Expr:
    """Fraction → signed percent text, ``0.021`` → ``"+2.1%"``; null → ``"n/a"``."""
    v = (x * 100).round(digits)
    sign = pl.when(v > 0).then(pl.lit("+")).otherwise(pl.lit(""))
    return pl.concat_str([sign, v.cast(pl.Utf8), pl.lit("%")]).fill_null("n/a")


def usd_expr(x: pl.Expr) -> pl.Expr:
    """USD → short text with k/M/B, ``235_600_000`` → ``"$235.6M"`` (see :func:`usd` for why not
    :func:`perpscope.core.format.usd_text`).

    Each row's number is written once: the scaled amount (one decimal) where ``|x| ≥ 1000``, else the
    whole dollars (a when/then chain would write every branch for every row).
    """
    a = x.abs()
    scaled = pl.when(a >= 1e9).then(x / 1e9).when(a >= 1e6).then(x / 1e6).when(a >= 1e3).then(x / 1e3)
    unit = pl.when(a >= 1e9).then(pl.lit("B")).when(a >= 1e6).then(pl.lit("M")).otherwise(pl.lit("k"))
    text = pl.coalesce(
        pl.concat_str([scaled.round(1).cast(pl.Utf8), unit]),
        pl.when(a >= 1e3).then(pl.lit(None, pl.Float64)).otherwise(x).round(0).cast(pl.Int64).cast(pl.Utf8),
    )
    sign = pl.when(x < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str([sign, pl.lit("$"), text.str.strip_prefix("-")]).fill_null("n/a")


def fixed_expr(x: pl.Expr, digits: int) -> pl.Expr:
    """Number → signed text with exactly ``digits`` decimals, ``0.01`` → ``"+0.010"`` (3 digits);
    zero unsigned, null → null. Rounding then casting to text would drop the trailing zeros, so two
    rates of one sentence would not read alike (``+0.01%`` beside ``+0.012%``)."""
    scale = 10**digits
    n = (x * scale).round(0).cast(pl.Int64)
    sign = pl.when(n > 0).then(pl.lit("+")).when(n < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    a = n.abs()
    frac = (a % scale).cast(pl.Utf8).str.zfill(digits)
    return pl.concat_str([sign, (a // scale).cast(pl.Utf8), pl.lit("."), frac])


def rate_expr(x: pl.Expr) -> pl.Expr:
    """Funding fraction → percent with three decimals, ``0.00012`` → ``"+0.012%"``, ``0.0001`` →
    ``"+0.010%"``; null → ``"n/a"``."""
    return pl.concat_str([fixed_expr(x * 100, 3), pl.lit("%")]).fill_null("n/a")


def pp_expr(x: pl.Expr) -> pl.Expr:
    """Change of a rate (fraction) → percentage points with three decimals, ``0.00003`` → ``"+0.003 pp"``
    (a rate going from 0.010% to 0.013% moved 0.003 points, not 0.003%)."""
    return pl.concat_str([fixed_expr(x * 100, 3), pl.lit(" pp")]).fill_null("n/a")


def pct(x: float | None, digits: int = 1) -> str:
    """Python twin of :func:`pct_expr` for single values."""
    return "n/a" if x is None else f"{x * 100:+.{digits}f}%"


def usd(x: float | None) -> str:
    """Python twin of :func:`usd_expr` for single values.

    Not :func:`perpscope.core.format.usd_text`: the evidence texts keep one decimal (``"$6.0M"``, so a
    window sum reads the same width in every sentence) and put the sign first (``"-$2.3M"``), while
    ``usd_text`` writes three significant digits (``"$2.62M"``, ``"$6M"``) for the views; the regime
    tests and the report/alert tests pin each form, and :func:`usd_expr` (polars) must match this one.
    """
    if x is None:
        return "n/a"
    sign = "-" if x < 0 else ""
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"{sign}${abs(x) / size:.1f}{unit}"
    return f"{sign}${abs(x):,.0f}"
