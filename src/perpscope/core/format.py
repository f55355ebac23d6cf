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


#: Colour of each regime label (labels: :data:`perpscope.regimes.LABELS`, docs/regimes.md), the same in
#: the terminal-adjacent HTML report, the dashboard (served by the API) and anything else that draws a
#: band: warm for the bearish / deleveraging readings, green for building leverage, purple for squeeze
#: risks, grey for neutral so the labels that say something stand out.
REGIME_COLOURS: dict[str, str] = {
    "deleveraging_flush": "#b3261e",
    "short_covering": "#f29e4c",
    "new_shorts": "#e8590c",
    "leverage_buildup": "#2f9e44",
    "squeeze_risk_short": "#7048e8",
    "squeeze_risk_long": "#c2255c",
    "latent_fragility": "#f2c94c",
    "neutral": "#dfe3e8",
}
#: Colour of a label missing from :data:`REGIME_COLOURS`.
UNKNOWN_REGIME_COLOUR = "#9aa1ab"
