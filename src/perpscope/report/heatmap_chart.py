"""The liquidation heatmap as a plotly figure: model book over time under the price candles, the current
liquidation map beside it, and the hot zones marked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from perpscope.heatmap import EnsembleRun, HeatmapRun, hot_zones, liquidation_map
from perpscope.heatmap.calibration import describe
from perpscope.heatmap.display import coarse_book

_HOVER = "%{x}<br>%{y:,.0f}<br>%{z:,.0f} USD<extra></extra>"


def _grid(source: HeatmapRun | EnsembleRun) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(snapshot times ms, long grid, short grid) — the ensemble's median for an ensemble."""
    if isinstance(source, EnsembleRun):
        gl = np.median(np.stack([m.out.grid_long for m in source.members]), axis=0)
        gs = np.median(np.stack([m.out.grid_short for m in source.members]), axis=0)
        return source.members[0].snapshot_ts_ms, gl, gs
    return source.snapshot_ts_ms, source.out.grid_long, source.out.grid_short


#: The most cells the chart's heatmap draws: price rows × snapshots. A 720-px-high, 1,400-px-wide chart
#: shows no more, and the page stays a few MB (a year of 5-minute snapshots × 2,000 price bins written
#: in full made an 11.7 MB page of which 6.7 MB was cells nobody could see).
MAX_ROWS, MAX_COLUMNS = 400, 800


def heatmap_figure(
    bars: pl.DataFrame,
    source: HeatmapRun | EnsembleRun,
    *,
    zones: pl.DataFrame | None = None,
    title: str = "",
    pad: float = 0.15,
) -> go.Figure:
    """Heatmap (time × price, USD of both sides) with candles on top; current map (USD by price) at right.

    Parameters
    ----------
    bars : polars.DataFrame
        The model input bars (``ts_ms, open, high, low, close``).
    source : HeatmapRun or EnsembleRun
        A model run, or an ensemble (its median is drawn; zone labels carry the p10–p90 band).
    zones : polars.DataFrame, optional
        Hot zones to mark (default :func:`~perpscope.heatmap.zones.hot_zones` of ``source``).
    pad : float
        Price range shown: the bars' low/high widened by this fraction.
    """
    zones = hot_zones(source) if zones is None else zones
    ts, gl, gs = _grid(source)
    grid = source.grid
    lo = float(bars["low"].min()) * (1 - pad)  # type: ignore[arg-type]
    hi = float(bars["high"].max()) * (1 + pad)  # type: ignore[arg-type]
    book = coarse_book(np.asarray(ts), grid.mids, gl + gs, lo=lo, hi=hi, rows=MAX_ROWS, max_cols=MAX_COLUMNS)
    fig = make_subplots(
        rows=1, cols=2, shared_yaxes=True, column_widths=[0.8, 0.2], horizontal_spacing=0.01,
        subplot_titles=("model book: USD that would be liquidated, by price", "current map (USD)"),
    )  # fmt: skip
    times = pl.Series(book.ts_ms).cast(pl.Datetime("ms", "UTC")).to_list()
    fig.add_trace(
        go.Heatmap(
            x=times, y=book.price_mid, z=book.usd, colorscale="Inferno", name="book USD",
            colorbar={"title": "USD", "x": 1.01, "xanchor": "left"}, hovertemplate=_HOVER,
        ),
        row=1, col=1,
    )  # fmt: skip
    fig.add_trace(
        go.Candlestick(
            x=bars["ts_ms"].to_list(), open=bars["open"], high=bars["high"], low=bars["low"],
            close=bars["close"], name="price", showlegend=False,
            increasing_line_color="#2ecc71", decreasing_line_color="#e74c3c",
        ),
        row=1, col=1,
    )  # fmt: skip
    # The side panel sums the fine grid into ~120 rows: 2,000 bins draw as hairlines nobody can read.
    step = (hi - lo) / 120
    m = (
        liquidation_map(source)
        .filter(pl.col("price_mid").is_between(lo, hi))
        .group_by(((pl.col("price_mid") - lo) / step).floor().alias("_row"))
        .agg(pl.col("long_usd").sum(), pl.col("short_usd").sum())
        .with_columns((lo + (pl.col("_row") + 0.5) * step).alias("price_mid"))
        .sort("price_mid")
    )
    fig.add_trace(
        go.Bar(x=m["long_usd"], y=m["price_mid"], orientation="h", name="longs", marker_color="#e74c3c"),
        row=1, col=2,
    )  # fmt: skip
    fig.add_trace(
        go.Bar(x=m["short_usd"], y=m["price_mid"], orientation="h", name="shorts", marker_color="#2ecc71"),
        row=1, col=2,
    )  # fmt: skip
    for zr in zones.iter_rows(named=True):
        band = (
            f" (p10–p90 {zr['usd_p10'] / 1e6:,.1f}–{zr['usd_p90'] / 1e6:,.1f} M)" if "usd_p10" in zr else ""
        )
        fig.add_hrect(
            y0=zr["price_lo"], y1=zr["price_hi"], line_width=1, fillcolor="rgba(0,0,0,0)",
            line_color="#e74c3c" if zr["side"] == "long" else "#2ecc71", row=1, col=1,
            annotation_text=f"{zr['side']} #{zr['rank']}: {zr['usd'] / 1e6:,.1f} M USD{band}",
            annotation_position="top left", annotation_font_size=10,
            annotation_font_color="#f0f0f0",
        )  # fmt: skip
    run0 = source.members[0] if isinstance(source, EnsembleRun) else source
    label = f"ensemble of {len(source.members)}" if isinstance(source, EnsembleRun) else describe(run0.model)
    fig.update_layout(
        title=title or f"liquidation heatmap — {label}",
        height=720, template="plotly_white", barmode="stack", bargap=0, xaxis_rangeslider_visible=False,
        margin={"l": 60, "r": 80, "t": 60, "b": 30}, legend={"orientation": "h", "y": -0.05},
    )  # fmt: skip
    fig.update_yaxes(range=[lo, hi], title_text="price", row=1, col=1)
    return fig


#: What :func:`write_heatmap` can write: interactive HTML or a PNG picture.
CHART_SUFFIXES = (".html", ".htm", ".png")


def check_chart_path(path: Path) -> Path:
    """``path`` if :func:`write_heatmap` can write it; ValueError saying what it takes otherwise (check
    before a long computation, so a typo costs nothing)."""
    if path.suffix.lower() not in CHART_SUFFIXES:
        raise ValueError(
            f"cannot write a chart to {path}: expected a file ending in {', '.join(CHART_SUFFIXES)}"
        )
    return path


def write_heatmap(fig: go.Figure, path: Path) -> Path:
    """Write ``fig`` as interactive HTML (plotly.js inline, works offline), or PNG when ``path`` ends
    in ``.png`` (kaleido drives a local Chromium: Debian's ``chromium`` package)."""
    check_chart_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".png":
        # Plotly's 700 px default squeezes the side panel into the colour bar; draw at a screen's width.
        fig.write_image(path, width=1400, height=fig.layout.height or 720)
    else:
        fig.write_html(path, include_plotlyjs=True, full_html=True)
    return path
