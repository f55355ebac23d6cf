"""Number formatting shared by every view (terminal, HTML, alerts): one way to write a % or a USD amount.

Pure string formatting, so every layer may use it.
"""

from __future__ import annotations

#: What a view shows where the store holds no value.
MISSING = "–"


def pct_text(x: float | None, digits: int = 2) -> str:
    """Fraction → signed percent text: ``0.0123`` → ``"+1.23%"``; None → ``"–"``."""
    return MISSING if x is None else f"{x * 100:+.{digits}f}%"


def usd_text(x: float | None, significant: int = 3) -> str:
    """USD amount → short text with k/M/B: ``305_050_000`` → ``"$305M"``; None → ``"–"``."""
    if x is None:
        return MISSING
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"${x / size:.{significant}g}{unit}"
    return f"${x:,.0f}"


def sign_class(x: float | None) -> str:
    """``"pos"``, ``"neg"``, ``""`` (zero) or ``"na"`` (missing): how a view colours a number."""
    if x is None:
        return "na"
    return "pos" if x > 0 else "neg" if x < 0 else ""
