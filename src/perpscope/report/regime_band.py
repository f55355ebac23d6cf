"""The regime band: a thin row of coloured segments under a price panel, one per regime episode.

Each segment spans its episode (``start_ms`` → ``end_ms`` of :func:`perpscope.regimes.episodes`), is
coloured by its label and carries the episode's evidence on hover. One trace per label, so the plotly
legend names the colours and a click hides a label.
"""

from __future__ import annotations

import html
import textwrap

import plotly.graph_objects as go
import polars as pl

from perpscope.core.palette import REGIME_COLOURS, UNKNOWN_REGIME_COLOUR
from perpscope.regimes import LABELS

#: The legend of a chart whose legend is the regime band's labels: a row under the plot, its title on
#: its own line (beside it, a phone's width pushed the entries off the chart).
BAND_LEGEND: dict[str, object] = {
    "orientation": "h",
    "x": 0,
    "y": -0.06,
    "yanchor": "top",
    "font": {"size": 11},
    "title": {"text": "regime band (hover a segment for its evidence):", "side": "top"},
}


def _ms(col: str) -> pl.Expr:
    """A Datetime("ms", "UTC") column as int ms."""
    return pl.col(col).dt.epoch("ms")


def _hover(evidence: str | None) -> str:
    """Evidence text wrapped for a hover box (plotly hover labels take ``<br>``, not newlines)."""
    lines = textwrap.wrap(evidence or "no evidence recorded", 90)
    return "<br>".join(html.escape(x) for x in lines)


def band_traces(episodes: pl.DataFrame) -> list[go.Bar]:
    """One horizontal-bar trace per regime label present in ``episodes`` (in :data:`LABELS` order).

    Parameters
    ----------
    episodes : polars.DataFrame
        Output of :func:`perpscope.regimes.episodes` for one series: ``regime``, ``start_ms``,
        ``end_ms`` (Datetime ms UTC), ``bars``, ``evidence``.

    Returns
    -------
    list of plotly.graph_objects.Bar
        Bars with ``base`` = episode start and length = its duration in ms, on a date x axis; their
        ``name`` is the label and ``meta`` is ``"regime-band"`` (so tests and callers can find them).
    """
    if episodes.is_empty():
        return []
    ep = episodes.with_columns(
        _ms("start_ms").alias("_s"), _ms("end_ms").alias("_e"), pl.col("evidence").fill_null("")
    )
    present = ep["regime"].unique().to_list()
    order = [lab for lab in LABELS if lab in present] + sorted(set(present) - set(LABELS))
    traces = []
    for lab in order:
        part = ep.filter(pl.col("regime") == lab)
        starts = pl.Series(part["_s"]).cast(pl.Datetime("ms", "UTC")).to_list()
        ends = pl.Series(part["_e"]).cast(pl.Datetime("ms", "UTC")).to_list()
        text = [
            f"<b>{html.escape(lab)}</b> · {s:%m-%d %H:%M} → {e:%m-%d %H:%M} UTC ({b} bars)<br>{_hover(ev)}"
            for s, e, b, ev in zip(starts, ends, part["bars"], part["evidence"], strict=True)
        ]
        traces.append(
            go.Bar(
                base=starts,
                x=(part["_e"] - part["_s"]).to_list(),
                y=["regime"] * part.height,
                orientation="h",
                width=1.0,
                name=lab.replace("_", " "),
                marker={"color": REGIME_COLOURS.get(lab, UNKNOWN_REGIME_COLOUR), "line": {"width": 0}},
                hovertext=text,
                hovertemplate="%{hovertext}<extra></extra>",
                meta="regime-band",
                showlegend=True,
            )
        )
    return traces


def add_regime_band(fig: go.Figure, episodes: pl.DataFrame, row: int, col: int = 1) -> go.Figure:
    """Draw :func:`band_traces` of ``episodes`` into subplot (``row``, ``col``) of ``fig``; returns ``fig``.

    The subplot's x axis is made a date axis (bar lengths are ms durations) and its y axis hidden.
    """
    for t in band_traces(episodes):
        fig.add_trace(t, row=row, col=col)
    fig.update_xaxes(type="date", row=row, col=col)
    fig.update_yaxes(showticklabels=False, showgrid=False, fixedrange=True, row=row, col=col)
    # one slot per label in "group" mode would thin each segment; overlay keeps them full height
    fig.update_layout(barmode="overlay")
    return fig
