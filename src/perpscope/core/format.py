"""Number formatting shared by every view (terminal, HTML, alerts): one way to write a % or a USD amount.

Pure string formatting, so every layer may use it.
"""

from __future__ import annotations

import math
from typing import Any

from perpscope.core.time import ms_to_iso

#: What a view shows where the store holds no value.
MISSING = "–"


def pct_text(x: float | None, digits: int = 2) -> str:
    """Fraction → signed percent text: ``0.0123`` → ``"+1.23%"``; None (or NaN) → ``"–"``."""
    return MISSING if x is None or x != x else f"{x * 100:+.{digits}f}%"


def usd_text(x: float | None, significant: int = 3) -> str:
    """USD amount → short text with k/M/B: ``305_050_000`` → ``"$305M"``, ``1.2e9`` → ``"$1.20B"``;
    None (or NaN) → ``"–"``."""
    if x is None or x != x:
        return MISSING
    sign, a = ("-" if x < 0 else ""), abs(x)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if a >= size:
            # '#' keeps trailing zeros ($1.20B beside $1.66B reads as one column); not a bare '305.'
            return f"{sign}${a / size:#.{significant}g}".rstrip(".") + unit
    return f"{sign}${a:,.0f}"


def price_text(x: float | None, tick: float | None = None) -> str:
    """Price (quote currency) → text with thousands separators and no exponent, to the tick when known:
    ``111123.4`` → ``"111,123.4"``, ``0.092345`` → ``"0.09235"``; None → ``"–"``.

    Without a tick, the decimals of the usual USDT-perp tick at that price (BTC 0.1, ETH and SOL 0.01,
    XRP 0.0001, DOGE 0.00001: one decimal from 10,000, two from 10, four from 1, five significant
    digits below); with one, the tick's decimals.
    """
    if x is None or x != x:
        return MISSING
    a = abs(x)
    if tick:
        decimals = max(0, -math.floor(math.log10(tick) + 1e-9))
    elif a >= 10_000:
        decimals = 1
    elif a >= 10:
        decimals = 2
    elif a >= 1:
        decimals = 4
    else:
        decimals = 4 - math.floor(math.log10(a)) if a else 0
    return f"{x:,.{min(decimals, 10)}f}"


def num_text(x: float | None, significant: int = 3) -> str:
    """A plain number → at most ``significant`` significant digits, separators, never an exponent:
    ``0.0298`` → ``"0.0298"``, ``12345.6`` → ``"12,346"``; None → ``"–"``."""
    if x is None or x != x:
        return MISSING
    if x == 0:
        return "0"
    decimals = max(0, significant - 1 - math.floor(math.log10(abs(x))))
    return f"{x:,.{min(decimals, 10)}f}"


def signed_text(x: float | None, digits: int = 2) -> str:
    """A signed quantity with fixed decimals, ``-0.1181`` → ``"-0.12"``, ``0.03`` → ``"+0.03"``."""
    return MISSING if x is None or x != x else f"{x:+.{digits}f}"


def rate_text(x: float | None, digits: int = 4) -> str:
    """Funding rate (fraction per interval) → percent, ``0.0001`` → ``"+0.0100%"``."""
    return pct_text(x, digits)


def pp_text(x: float | None, digits: int = 1) -> str:
    """A change of a percentage (as a fraction difference) → percentage points: ``0.012`` → ``"+1.2 pp"``.

    A funding rate going from 0.010% to 0.013% changed by 0.003 pp, not by 0.003% (that would be 30%).
    """
    return MISSING if x is None or x != x else f"{x * 100:+.{digits}f} pp"


def ratio_text(x: float | None) -> str:
    """A ratio of two amounts, ``3.214`` → ``"3.21×"``."""
    return MISSING if x is None or x != x else f"{num_text(x)}×"


def date_text(ms: int, *, year: bool = True, minutes: bool = True) -> str:
    """Instant (int ms UTC) → ``"2025-10-10 21:00"`` (:func:`perpscope.core.time.ms_to_iso`;
    ``year=False``: ``"10-10 21:00"``, where a heading already names the year; ``minutes=False``: the
    date only)."""
    text = ms_to_iso(ms) if minutes else ms_to_iso(ms)[:10]
    return text if year else text[5:]


def sign_class(x: float | None) -> str:
    """``"pos"``, ``"neg"``, ``""`` (zero) or ``"na"`` (missing): how a view colours a number."""
    if x is None:
        return "na"
    return "pos" if x > 0 else "neg" if x < 0 else ""


def json_safe(x: Any) -> Any:
    """NaN/inf → None, recursively through dicts, lists and tuples, so ``json.dumps`` writes valid JSON."""
    if isinstance(x, float):
        return None if not math.isfinite(x) else x
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [json_safe(v) for v in x]
    return x
