"""Colours every view shares (the HTML report, the dashboard served by the API, anything that draws a
regime band): one place, so a label reads the same colour everywhere. Pure constants, so every layer may
use them."""

from __future__ import annotations

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
    "insufficient_data": "#f1f3f5",
    "neutral": "#dfe3e8",
}
#: Colour of a label missing from :data:`REGIME_COLOURS`.
UNKNOWN_REGIME_COLOUR = "#9aa1ab"
