"""The one visual language of liquidation heatmaps: colour scale, log scale, side colours, label placement.

The HTML page ``perpscope heatmap --out`` writes, the demo's report (it draws the same figure) and the
dashboard (``dashboard/static/app.js``, which repeats these constants; a test holds the two equal) draw
the model book with the same colours, the same log scale and the same rules, so a band that is bright
on one is bright on the others.

Why a log scale: the book's cells span five or six decades of USD (a few fresh bands of tens of millions
beside a long tail of thousands). A linear scale paints the tail black and a handful of cells bright; a
log scale clipped to :data:`DECADES` decades below the top shows every band and still keeps the
strongest the brightest. The legend says so ("log scale").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from perpscope.core.format import usd_text

#: The heatmap colour scale, low → high USD (plotly ``colorscale`` stops): a dark violet ground that the
#: empty price rows share, through blue and teal to green and a bright yellow for the hottest bands (the
#: CoinGlass look traders know). The lower third of the log range stays dark, so the top decade or so
#: lights up and the bands stand out. Empty cells are not drawn; the panel's background is the first colour.
HEAT_COLOURSCALE: tuple[tuple[float, str], ...] = (
    (0.0, "#160a2e"),
    (0.35, "#2e1f6e"),
    (0.55, "#1f5fa8"),
    (0.72, "#16a39a"),
    (0.85, "#6fd44f"),
    (0.95, "#e8f03a"),
    (1.0, "#fffbd0"),
)
#: The panel background behind the heatmap: the scale's lowest colour, so an empty row reads as "none".
HEAT_BACKGROUND = HEAT_COLOURSCALE[0][1]

#: Sides, everywhere: longs (liquidated on a fall) red, shorts (liquidated on a rise) green.
LONG_COLOUR = "#e74c3c"
SHORT_COLOUR = "#2ecc71"

#: Decades of USD below the top of the scale that still get a colour (cells below draw the lowest).
DECADES = 3.0
#: Quantile of the non-empty cells that sets the top of the scale: the hottest 0.5 % saturate, so one
#: outlier cell does not dim every band.
TOP_QUANTILE = 0.995


@dataclass(frozen=True)
class LogScale:
    """A log10 colour scale: ``zmin``/``zmax`` in log10 USD, colour-bar ticks at ``tickvals`` (log10
    USD) labelled ``ticktext`` (``$1.00M``: the same USD text as the zone labels and tables)."""

    zmin: float
    zmax: float
    tickvals: tuple[float, ...]
    ticktext: tuple[str, ...]


def log_cells(usd: np.ndarray) -> np.ndarray:
    """log10 of each cell's USD; NaN (not drawn) where the book holds nothing."""
    a = np.asarray(usd, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(a > 0, np.log10(np.where(a > 0, a, 1.0)), np.nan)


def log_scale(usd: np.ndarray, decades: float = DECADES, top_quantile: float = TOP_QUANTILE) -> LogScale:
    """The log scale of a book: top at the ``top_quantile`` of the non-empty cells, bottom ``decades``
    below it (or at the smallest cell when the book spans less); ticks at 1-2-5 steps of USD."""
    a = np.asarray(usd, dtype=np.float64)
    pos = a[a > 0]
    if not pos.size:
        return LogScale(0.0, 1.0, (), ())
    zmax = float(np.log10(np.quantile(pos, top_quantile)))
    zmin = max(float(np.log10(pos.min())), zmax - decades)
    if zmax - zmin < 0.3:  # a near-flat book: still a scale of a factor of 2
        zmin = zmax - 0.3
    vals: list[float] = []
    for e in range(int(np.floor(zmin)), int(np.ceil(zmax)) + 1):
        for m in (1, 2, 5) if zmax - zmin < 2.5 else (1,):
            v = np.log10(m) + e
            if zmin - 1e-9 <= v <= zmax + 1e-9:
                vals.append(float(v))
    return LogScale(zmin, zmax, tuple(vals), tuple(usd_text(10**v) for v in vals))


def spread_labels(wanted: Sequence[float], gap: float, lo: float, hi: float) -> list[float]:
    """Positions for labels that want to sit at ``wanted`` (any unit, e.g. price) so that no two are
    closer than ``gap`` and all stay in ``[lo, hi]``; each moves as little as this simple sweep allows.

    Labels are pushed up past their lower neighbour, then down below the top and their upper neighbour;
    when ``[lo, hi]`` cannot hold them all at ``gap``, the gap shrinks to fit (the caller sizes the
    font). Returned in the order of ``wanted``.
    """
    n = len(wanted)
    if n == 0:
        return []
    if n > 1:
        gap = min(gap, (hi - lo) / (n - 1))
    order = sorted(range(n), key=lambda i: wanted[i])
    ys = [min(max(float(wanted[i]), lo), hi) for i in order]
    for j in range(1, n):
        ys[j] = max(ys[j], ys[j - 1] + gap)
    ys[-1] = min(ys[-1], hi)
    for j in range(n - 2, -1, -1):
        ys[j] = min(ys[j], ys[j + 1] - gap)
    out = [0.0] * n
    for j, i in enumerate(order):
        out[i] = ys[j]
    return out
