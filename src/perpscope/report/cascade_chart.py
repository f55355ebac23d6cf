"""The cascade simulator as a plotly figure: price-path fan, liquidations by round, fragility curve.

Write it with :func:`perpscope.report.chart_files.write_chart` (HTML, plotly.js inline).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from perpscope.cascade import CascadeResult

_LONG, _SHORT, _BAND = "#e74c3c", "#2ecc71", "rgba(52,152,219,0.25)"
_BANDS = {"down": "rgba(231,76,60,0.18)", "up": "rgba(46,204,113,0.18)"}


def fragility_traces(frag: pl.DataFrame) -> list[go.Scatter]:
    """Fragility curve traces: median liquidated USD vs shock (%) with p10–p90 bands, down and up."""
    traces: list[go.Scatter] = []
    for side, color in (("down", _LONG), ("up", _SHORT)):
        g = frag.filter(pl.col("direction") == side).sort("shock_pct")
        x = g["shock_pct"].to_list()
        traces.append(go.Scatter(x=x, y=g["liq_usd_p90"].to_list(), line={"width": 0}, showlegend=False,
                                 hoverinfo="skip", mode="lines"))  # fmt: skip
        traces.append(
            go.Scatter(
                x=x, y=g["liq_usd_p10"].to_list(), fill="tonexty", fillcolor=_BANDS[side], line={"width": 0},
                name=f"{side}: p10–p90", mode="lines", hoverinfo="skip",
            )
        )  # fmt: skip
        traces.append(
            go.Scatter(
                x=x, y=g["liq_usd_p50"].to_list(), mode="lines+markers", line={"color": color},
                name=f"{'longs' if side == 'down' else 'shorts'} liquidated (median)",
                customdata=np.stack([g["final_move_pct_p50"].to_numpy()], axis=1),
                hovertemplate="shock %{x:+.1f}%<br>%{y:,.0f} USD<br>final move %{customdata[0]:+.2f}%"
                "<extra></extra>",
            )
        )  # fmt: skip
    return traces


def fragility_figure(frag: pl.DataFrame, title: str = "") -> go.Figure:
    """The fragility curve alone (for the demo page)."""
    fig = go.Figure(fragility_traces(frag))
    fig.update_layout(
        title=title or "fragility: liquidations set off by a shock of each size",
        xaxis_title="shock (% of price)", yaxis_title="liquidated USD", template="plotly_white", height=420,
    )  # fmt: skip
    return fig


def cascade_figure(result: CascadeResult, frag: pl.DataFrame | None = None, *, title: str = "",
                   sample_paths: int = 30) -> go.Figure:  # fmt: skip
    """Price-path fan (p10–p90 over paths, median, a few single paths), liquidations by round, and the
    fragility curve when ``frag`` is given."""
    cols = 3 if frag is not None else 2
    names = ("price by round (fan over Monte Carlo paths)", "liquidated USD by round", "fragility curve")
    fig = make_subplots(rows=1, cols=cols, subplot_titles=names[:cols], horizontal_spacing=0.07)
    steps = result.steps_frame()
    x = steps["round"].to_list()
    fig.add_trace(go.Scatter(x=x, y=steps["price_p90"].to_list(), line={"width": 0}, showlegend=False,
                             hoverinfo="skip", mode="lines"), row=1, col=1)  # fmt: skip
    fig.add_trace(
        go.Scatter(x=x, y=steps["price_p10"].to_list(), fill="tonexty", fillcolor=_BAND, line={"width": 0},
                   name="price p10–p90", mode="lines"),
        row=1, col=1,
    )  # fmt: skip
    o = result.out
    for p in range(min(sample_paths, o.final_price.shape[0])):
        k = int(min(o.rounds[p], o.step_liq_usd.shape[1]))
        fig.add_trace(
            go.Scatter(x=list(range(k + 1)), y=o.step_price[p, : k + 1], mode="lines",
                       line={"color": "rgba(120,120,120,0.35)", "width": 1}, showlegend=False,
                       hoverinfo="skip"),
            row=1, col=1,
        )  # fmt: skip
    fig.add_trace(go.Scatter(x=x, y=steps["price_p50"].to_list(), name="price median",
                             line={"color": "#2c3e50"}), row=1, col=1)  # fmt: skip
    # Round −1 is the price before the shock: without it a shock that sets off nothing draws one dot.
    fig.add_trace(
        go.Scatter(x=[-1, 0], y=[result.price, steps["price_p50"][0]], mode="lines+markers",
                   line={"color": "#2c3e50", "dash": "dot"}, name=f"shock {result.shock.label()}"),
        row=1, col=1,
    )  # fmt: skip
    fig.add_hline(y=result.price, line={"color": "#95a5a6", "width": 1, "dash": "dash"}, row=1, col=1)
    if len(x) == 1:
        for col in (1, 2):
            ax = "" if col == 1 else "2"
            fig.add_annotation(text="no liquidation price crossed:<br>the move stops at the shock",
                               showarrow=False, xref=f"x{ax} domain", yref=f"y{ax} domain", x=0.5,
                               y=0.1 if col == 1 else 0.5, font={"color": "#7f8c8d"})  # fmt: skip
    side = "longs" if result.shock.direction > 0 else "shorts"
    fig.add_trace(
        go.Bar(x=x[1:], y=steps["liq_usd_mean"].to_list()[1:], name=f"{side} liquidated (mean)",
               marker_color=_LONG if result.shock.direction > 0 else _SHORT),
        row=1, col=2,
    )  # fmt: skip
    fig.add_trace(
        go.Bar(x=x[1:], y=steps["adl_usd_mean"].to_list()[1:], name="auto-deleveraged (mean)",
               marker_color="#8e44ad"),
        row=1, col=2,
    )  # fmt: skip
    if frag is not None:
        for t in fragility_traces(frag):
            fig.add_trace(t, row=1, col=3)
        fig.update_xaxes(title_text="shock (% of price)", row=1, col=3)
        fig.update_yaxes(title_text="liquidated USD", row=1, col=3)
    fig.update_xaxes(title_text="round (−1: before the shock)", dtick=1, row=1, col=1)
    fig.update_xaxes(title_text="round", dtick=1, row=1, col=2)
    fig.update_layout(
        title=title or f"cascade after a {result.shock.label()} shock — {result.book_label}",
        template="plotly_white", height=520, barmode="stack", legend={"orientation": "h", "y": -0.18},
        margin={"l": 60, "r": 30, "t": 70, "b": 40},
    )  # fmt: skip
    return fig
