"""Writing a chart to a file, for every command that writes one (heatmap, cascade, the demo): interactive
HTML with plotly.js inline (opens offline), or a PNG drawn by kaleido through a local Chromium (Debian's
``chromium`` package)."""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

#: What :func:`write_chart` can write: interactive HTML or a PNG picture.
CHART_SUFFIXES = (".html", ".htm", ".png")
#: The narrowest an HTML chart page draws (px); narrower windows (a phone) scroll sideways rather than
#: squeezing a chart of several panels and legends onto its titles (the dashboard is the phone view).
PAGE_MIN_WIDTH = 960
#: PNG width (px): plotly's 700 px default squeezes side panels into colour bars; a screen's width.
PNG_WIDTH = 1400
#: PNG height (px) of a figure that sets none.
PNG_HEIGHT = 720


def check_chart_path(path: Path) -> Path:
    """``path`` if :func:`write_chart` can write it; ValueError saying what it takes otherwise (check
    before a long computation, so a typo costs nothing)."""
    if path.suffix.lower() not in CHART_SUFFIXES:
        raise ValueError(
            f"cannot write a chart to {path}: expected a file ending in {', '.join(CHART_SUFFIXES)}"
        )
    return path


def write_chart(fig: go.Figure, path: Path) -> Path:
    """Write ``fig`` as interactive HTML, or PNG when ``path`` ends in ``.png``; returns ``path``."""
    check_chart_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".png":
        fig.write_image(path, width=PNG_WIDTH, height=fig.layout.height or PNG_HEIGHT)
    else:
        fig.write_html(
            path,
            include_plotlyjs=True,
            full_html=True,
            post_script=(
                "var gd = document.getElementById('{plot_id}'); "
                f"gd.style.minWidth = '{PAGE_MIN_WIDTH}px'; Plotly.Plots.resize(gd);"
            ),
        )
    return path
