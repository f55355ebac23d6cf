"""The liquidation heatmap as a plotly figure, in the visual language of :mod:`perpscope.report.heat_scale`.

Three panels share the price scale (quote currency) and one USD measure, *USD per price row* (the rows of
:func:`~perpscope.heatmap.display.coarse_book`), so the colour bar, the side panel and the liquidation map
read the same number:

1. the model book over time under the candles (log colour scale), the current book continued into a strip
   to the right of the last bar, where the hot zones are drawn from the bar they were computed at, with
   labels that never overlap; beside it, the current book by side;
2. the liquidation map: the current book by price, stacked by leverage (longs below the price, shorts
   above), as CoinGlass's liquidation map;
3. cumulative USD liquidated by a move from the current price to each price (longs down, shorts up).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from perpscope.core.format import price_text, usd_text
from perpscope.heatmap import EnsembleRun, HeatmapRun, hot_zones
from perpscope.heatmap.calibration import describe
from perpscope.heatmap.display import CoarseBook, LeverageBooks, coarse_book, leverage_books
from perpscope.records.symbols import is_canonical
from perpscope.report.heat_scale import (
    HEAT_BACKGROUND,
    HEAT_COLOURSCALE,
    LONG_COLOUR,
    SHORT_COLOUR,
    log_cells,
    log_scale,
    spread_labels,
)


def _grid(source: HeatmapRun | EnsembleRun) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(snapshot times ms, long grid, short grid) — the ensemble's median for an ensemble."""
    if isinstance(source, EnsembleRun):
        gl = np.median(np.stack([m.out.grid_long for m in source.members]), axis=0)
        gs = np.median(np.stack([m.out.grid_short for m in source.members]), axis=0)
        return source.members[0].snapshot_ts_ms, gl, gs
    return source.snapshot_ts_ms, source.out.grid_long, source.out.grid_short


#: The most cells the chart's heatmap draws: price rows × snapshots. The page stays a few MB (a year of
#: 5-minute snapshots × 2,000 price bins written in full made an 11.7 MB page of which 6.7 MB was cells
#: nobody could see). Rows: about 4 px each in the 650-px panel. The model places each bar's positions
#: in a handful of single bins (one per leverage), so 400 rows drew hairlines with dark gaps between
#: them (a dim map, mostly black); 160 rows sum neighbouring bins into bands a trader can see, as the
#: dashboard's 120 do.
MAX_ROWS, MAX_COLUMNS = 160, 800

#: Width of the strip right of the last bar where the current book and the hot zones are drawn: a share
#: of the time span (at least two bars), wide enough for a zone label.
AHEAD_SHARE = 0.12

#: Leverage colours of the liquidation map, lowest leverage first (cool → hot: the higher the leverage,
#: the closer its liquidations sit to the price).
LEVERAGE_COLOURS = (
    "#2f4b8f", "#3b6fb6", "#46a3c8", "#3fae7a", "#7cc24a", "#c9d63a", "#f2c531", "#f28e2b", "#e8503a",
    "#c2255c", "#8e1f6e", "#4f1a5c",
)  # fmt: skip

#: Figure heights (px): the heatmap panel alone, and with the liquidation map and cumulative panels.
HEIGHT, HEIGHT_WITH_MAP = 720, 1120
#: Vertical distance between two zone labels (px): a 10-px font's line and its box.
LABEL_GAP_PX = 15
_MARGIN = {"l": 80, "r": 30, "t": 120, "b": 45}


def _side_rows(book: np.ndarray, ts_last: int, mids: np.ndarray, lo: float, hi: float) -> CoarseBook:
    """One side's current book on the same price rows as the heatmap."""
    return coarse_book(np.array([ts_last]), mids, book[None, :], lo=lo, hi=hi, rows=MAX_ROWS, max_cols=1)


def _dates(ms: np.ndarray | list[int]) -> list:
    return pl.Series(np.asarray(ms, dtype=np.int64)).cast(pl.Datetime("ms", "UTC")).to_list()


@dataclass(frozen=True)
class _Frame:
    """Where the chart stands: the price window, the time span and the strip ahead, the book's rows."""

    lo: float  # price window (quote currency)
    hi: float
    iv: int  # bar length (ms)
    bar_ms: np.ndarray  # bar open times (ms UTC)
    start: int  # first bar's open (ms UTC)
    end: int  # last bar's close, where the current book stands (ms UTC)
    ahead: int  # width of the strip right of the last bar (ms)
    book: CoarseBook  # the model book on the chart's rows and columns
    row_usd: str  # the USD measure's name, "USD per <row width> <quote> row"


def _frame(
    bars: pl.DataFrame,
    source: HeatmapRun | EnsembleRun,
    ts: np.ndarray,
    grid_usd: np.ndarray,
    pad: float,
    quote: str,
) -> _Frame:
    """The price window (bars' low/high widened by ``pad``), time span and coarse book of the chart."""
    lo = float(bars["low"].min()) * (1 - pad)  # type: ignore[arg-type]
    hi = float(bars["high"].max()) * (1 + pad)  # type: ignore[arg-type]
    grid = source.grid
    book = coarse_book(np.asarray(ts), grid.mids, grid_usd, lo=lo, hi=hi, rows=MAX_ROWS, max_cols=MAX_COLUMNS)
    iv = int(_first_run(source).interval_ms)
    bar_ms = bars["ts_ms"].dt.epoch("ms").to_numpy().astype(np.int64)
    start, end = int(bar_ms[0]), int(bar_ms[-1]) + iv  # end: the last bar's close, where the map stands
    ahead = max(int(AHEAD_SHARE * (end - start)), 2 * iv)
    row_usd = f"USD per {price_text(_row_width(book, grid.width))} {quote} row"
    return _Frame(lo, hi, iv, bar_ms, start, end, ahead, book, row_usd)


def _first_run(source: HeatmapRun | EnsembleRun) -> HeatmapRun:
    return source.members[0] if isinstance(source, EnsembleRun) else source


def _subplots(with_map: bool) -> go.Figure:
    """The panels: heatmap and current book side by side; with ``with_map`` the map and cumulative below."""
    rows = 3 if with_map else 1
    specs: list[list[dict | None]] = [[{}, {}]]
    if with_map:
        specs += [[{"colspan": 2}, None], [{"colspan": 2}, None]]
    fig = make_subplots(
        rows=rows, cols=2, specs=specs, column_widths=[0.82, 0.18], horizontal_spacing=0.012,
        vertical_spacing=0.07 if with_map else 0.0,
        row_heights=[0.58, 0.24, 0.18] if with_map else None,
        subplot_titles=(
            "model book: USD that would be liquidated, by price and time",
            "current book",
            *(("liquidation map by leverage: longs below the price, shorts above",
               "cumulative USD liquidated by a move from the price to each level") if with_map else ()),
        ),
    )  # fmt: skip
    fig.update_yaxes(matches="y", showticklabels=False, row=1, col=2)
    for a in fig.layout.annotations:  # panel titles at the panel's left: legends sit at the right
        a.update(x=a.x - 0.5 * _panel_width(fig, a.x), xanchor="left", font={"size": 13})
    return fig


def _add_book(fig: go.Figure, fr: _Frame, height: int, quote: str) -> None:
    """The model book over time (log colour scale) with its colour bar above the panel."""
    book = fr.book
    # A column is the book after its snapshot bar closed, drawn until the next snapshot's close; the last
    # (the current book) fills the strip ahead. Edges, not centres: no cell reaches back before its bar.
    edges = np.concatenate([book.ts_ms.astype(np.int64) + fr.iv, [fr.end + fr.ahead]])
    scale = log_scale(book.usd)
    y_dom = fig.layout.yaxis.domain
    colorbar = {
        "title": {"text": f"{fr.row_usd} · log scale", "side": "top", "font": {"size": 11}},
        "orientation": "h", "x": 0.0, "xanchor": "left", "y": y_dom[1] + 30 / height, "yanchor": "bottom",
        "len": 0.45, "thickness": 10, "tickvals": list(scale.tickvals), "ticktext": list(scale.ticktext),
        "tickfont": {"size": 10},
    }  # fmt: skip
    fig.add_trace(
        go.Heatmap(
            x=_dates(edges), y=book.price_mid, z=log_cells(book.usd).astype(np.float32),
            customdata=book.usd, zmin=scale.zmin, zmax=scale.zmax, colorbar=colorbar, name="model book",
            colorscale=[list(s) for s in HEAT_COLOURSCALE], zsmooth=False,
            hovertemplate=f"%{{x}}<br>%{{y:,.6~g}} {quote}<br>%{{customdata:$.3~s}}<extra>book</extra>",
        ),
        row=1, col=1,
    )  # fmt: skip


def _add_candles(fig: go.Figure, bars: pl.DataFrame, bar_ms: np.ndarray) -> None:
    fig.add_trace(
        go.Candlestick(
            x=_dates(bar_ms), open=bars["open"], high=bars["high"], low=bars["low"], close=bars["close"],
            name="price", showlegend=False, increasing_line_color="#f2f2f2", decreasing_line_color="#ff6b6b",
            increasing_fillcolor="#f2f2f2", decreasing_fillcolor="#ff6b6b", line_width=1,
        ),
        row=1, col=1,
    )  # fmt: skip


def _add_current_book(
    fig: go.Figure, source: HeatmapRun | EnsembleRun, ts_last: int, fr: _Frame, quote: str
) -> tuple[CoarseBook, CoarseBook]:
    """The current book by side beside the heatmap, on its own rows: the same USD per row as the colour
    bar. Returns the (long, short) rows, which the liquidation map reuses."""
    mids = source.grid.mids
    cur_l = _side_rows(_final(source, "long"), ts_last, mids, fr.lo, fr.hi)
    cur_s = _side_rows(_final(source, "short"), ts_last, mids, fr.lo, fr.hi)
    for cur, name, colour in ((cur_l, "longs", LONG_COLOUR), (cur_s, "shorts", SHORT_COLOUR)):
        usd = cur.usd[:, 0].astype(np.float64)
        fig.add_trace(
            go.Bar(
                x=usd, y=cur.price_mid, orientation="h", name=f"{name} (current book)", marker_color=colour,
                marker_line_width=0, customdata=[usd_text(v) for v in usd], legendgroup=name,
                hovertemplate=f"%{{y:,.6~g}} {quote}<br>%{{customdata}}<extra>{name}</extra>",
            ),
            row=1, col=2,
        )  # fmt: skip
    return cur_l, cur_s


def _finish_layout(fig: go.Figure, fr: _Frame, height: int, title: str, quote: str) -> None:
    """Size, legend, title, axes and the heatmap panel's ground."""
    y_dom = fig.layout.yaxis.domain
    fig.update_layout(
        height=height, template="plotly_white", barmode="stack", bargap=0, margin=_MARGIN,
        legend={"orientation": "h", "x": 1.0, "xanchor": "right", "y": y_dom[1] + 48 / height,
                "yanchor": "bottom", "font": {"size": 11}},
    )  # fmt: skip
    # the title as a paper annotation above the colour bar: plotly 7 placed a container-anchored layout
    # title partly above the page
    fig.add_annotation(
        text=title, xref="paper", yref="paper", x=0.0, xanchor="left",
        y=y_dom[1] + 88 / height, yanchor="bottom", showarrow=False, font={"size": 16}, name="title",
    )  # fmt: skip
    fig.update_xaxes(
        range=_dates([fr.start - fr.iv // 2, fr.end + fr.ahead]), rangeslider_visible=False,
        title_text="time (UTC)", row=1, col=1,
    )  # fmt: skip
    fig.update_xaxes(title_text=fr.row_usd, tickprefix="$", exponentformat="B", row=1, col=2)
    fig.update_yaxes(range=[fr.lo, fr.hi], title_text=f"price ({quote})", row=1, col=1)
    fig.update_layout(plot_bgcolor="white")
    fig.layout.xaxis.update(showgrid=False)
    fig.layout.yaxis.update(showgrid=False)
    # the heatmap panel's ground is the scale's lowest colour: an empty row reads as "nothing there"
    fig.add_shape(
        type="rect", xref="x domain", yref="y domain", x0=0, x1=1, y0=0, y1=1, layer="below",
        fillcolor=HEAT_BACKGROUND, line_width=0,
    )  # fmt: skip


def heatmap_figure(
    bars: pl.DataFrame,
    source: HeatmapRun | EnsembleRun,
    *,
    zones: pl.DataFrame | None = None,
    title: str = "",
    pad: float = 0.15,
    quote: str = "USDT",
    with_map: bool = True,
) -> go.Figure:
    """Heatmap (time × price, USD per price row, log colour scale) with the candles, the current book
    beside it and, with ``with_map``, the liquidation map by leverage and its cumulative curves below.

    Parameters
    ----------
    bars : polars.DataFrame
        The model input bars (``ts_ms, open, high, low, close``) the source was computed on.
    source : HeatmapRun or EnsembleRun
        A model run, or an ensemble (its median is drawn; zone hovers carry the p10–p90 band).
    zones : polars.DataFrame, optional
        Hot zones to mark (default :func:`~perpscope.heatmap.zones.hot_zones` of ``source``).
    pad : float
        Price range shown: the bars' low/high widened by this fraction.
    quote : str
        Quote currency of the prices (axis titles).
    with_map : bool
        Add the liquidation map (by leverage) and the cumulative panel under the heatmap.
    """
    zones = hot_zones(source) if zones is None else zones
    ts, gl, gs = _grid(source)
    fr = _frame(bars, source, ts, gl + gs, pad, quote)
    height = HEIGHT_WITH_MAP if with_map else HEIGHT
    fig = _subplots(with_map)
    _add_book(fig, fr, height, quote)
    _add_candles(fig, bars, fr.bar_ms)
    cur_l, cur_s = _add_current_book(fig, source, int(ts[-1]), fr, quote)
    _draw_zones(fig, zones, fr, height)
    fig.add_vline(x=_dates([fr.end])[0], line_width=1, line_dash="dot", line_color="#bbbbbb", row=1, col=1)
    fig.add_hline(y=source.last_close, line_width=1, line_dash="dot", line_color="#888888", row=1, col=2)
    if with_map:
        _draw_map(fig, leverage_books(source, bars), source, cur_l, cur_s, fr, quote)
    if isinstance(source, EnsembleRun):
        label = f"ensemble of {len(source.members)}"
    else:
        label = describe(source.model)
    _finish_layout(fig, fr, height, title or f"liquidation heatmap — {label}", quote)
    return fig


#: Quote currencies a venue's compact symbol may end with, longest first (``BTCUSDT`` → ``USDT``).
_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "USD")


def quote_of(symbol: str) -> str:
    """The quote currency of a symbol, canonical (``BTC-USDT-PERP``) or a venue's (``BTCUSDT``): the
    unit of the chart's prices; ``"quote"`` when the text does not say."""
    if is_canonical(symbol.upper()):
        return symbol.upper().split("-")[1]
    head = symbol.upper().split("-")[0].split("_")[0]
    return next((q for q in _QUOTES if head.endswith(q) and len(head) > len(q)), "quote")


def _panel_width(fig: go.Figure, centre: float) -> float:
    """Width (paper) of the subplot whose x domain is centred at ``centre``."""
    for ax in (fig.layout[k] for k in fig.layout if k.startswith("xaxis")):
        if ax.domain and abs(sum(ax.domain) / 2 - centre) < 1e-6:
            return float(ax.domain[1] - ax.domain[0])
    return 0.0


def _row_width(book: CoarseBook, fine_width: float) -> float:
    """Price width of one row of the coarse book (quote currency)."""
    if book.price_mid.size > 1:
        return float(np.median(np.diff(book.price_mid)))
    return fine_width


def _final(source: HeatmapRun | EnsembleRun, side: str) -> np.ndarray:
    if isinstance(source, EnsembleRun):
        return source.long_q[1] if side == "long" else source.short_q[1]
    return source.out.final_long if side == "long" else source.out.final_short


def _draw_zones(fig: go.Figure, zones: pl.DataFrame, fr: _Frame, height: int) -> None:
    """Zones as boxes in the strip ahead of the last bar (the bar they were computed at), each labelled
    at the strip's right edge; labels spread apart so that no two overlap, a leader line when moved."""
    if zones.is_empty():
        return
    lo, hi = fr.lo, fr.hi
    y_dom = fig.layout.yaxis.domain
    panel_px = (height - _MARGIN["t"] - _MARGIN["b"]) * (y_dom[1] - y_dom[0])
    gap = LABEL_GAP_PX * (hi - lo) / max(panel_px, 1.0)
    zs = list(zones.iter_rows(named=True))
    mids = [(z["price_lo"] + z["price_hi"]) / 2 for z in zs]
    ys = spread_labels(mids, gap, lo + gap / 2, hi - gap / 2)
    x0, x1 = _dates([fr.end, fr.end + fr.ahead])
    for z, mid, y in zip(zs, mids, ys, strict=True):
        colour = LONG_COLOUR if z["side"] == "long" else SHORT_COLOUR
        fig.add_shape(
            type="rect", x0=x0, x1=x1, y0=z["price_lo"], y1=z["price_hi"], xref="x", yref="y",
            line={"width": 1.5, "color": colour}, fillcolor="rgba(0,0,0,0)",
        )  # fmt: skip
        band = f"<br>p10–p90 {usd_text(z['usd_p10'])} – {usd_text(z['usd_p90'])}" if "usd_p10" in z else ""
        hover = (
            f"{z['side']} zone #{z['rank']}: {price_text(z['price_lo'])} – {price_text(z['price_hi'])}<br>"
            f"{usd_text(z['usd'])} ({z['distance_pct']:+.2f}% from the price){band}"
        )
        moved = abs(y - mid) > gap / 2
        fig.add_annotation(
            x=x1, y=y, xref="x", yref="y", xanchor="right", yanchor="middle", showarrow=False,
            text=f"{'L' if z['side'] == 'long' else 'S'}{z['rank']} {usd_text(z['usd'])}",
            font={"size": 10, "color": "#111111"}, bgcolor=colour, borderpad=1, opacity=0.95,
            hovertext=hover, name=f"zone-{z['side']}-{z['rank']}",
        )  # fmt: skip
        if moved:  # a leader from the label back to its zone's edge
            fig.add_shape(
                type="line", x0=x0, x1=x1, y0=mid, y1=y, xref="x", yref="y",
                line={"width": 1, "color": colour, "dash": "dot"},
            )  # fmt: skip


def _draw_map(
    fig: go.Figure,
    levs: LeverageBooks,
    source: HeatmapRun | EnsembleRun,
    cur_l: CoarseBook,
    cur_s: CoarseBook,
    fr: _Frame,
    quote: str,
) -> None:
    """Rows 2 and 3: the liquidation map by leverage (stacked, on the heatmap's rows) and cumulative."""
    _draw_leverage_bars(fig, levs, source.grid.mids, int(cur_l.ts_ms[0]), fr, quote)
    _draw_cumulative(fig, cur_l, cur_s, source.last_close, quote)
    _map_axes(fig, source.last_close, fr, quote)


def _draw_leverage_bars(
    fig: go.Figure, levs: LeverageBooks, mids: np.ndarray, ts0: int, fr: _Frame, quote: str
) -> None:
    """Row 2: the current book by leverage, stacked, on the heatmap's price rows."""
    lo, hi = fr.lo, fr.hi
    for k, lev in enumerate(levs.leverages.tolist()):
        both = _side_rows(levs.long_usd[k] + levs.short_usd[k], ts0, mids, lo, hi)
        usd = both.usd[:, 0].astype(np.float64)
        if not usd.any():
            continue
        fig.add_trace(
            go.Bar(
                x=both.price_mid, y=usd, name=f"{lev:g}×", legend="legend2",
                marker_color=LEVERAGE_COLOURS[min(k, len(LEVERAGE_COLOURS) - 1)], marker_line_width=0,
                customdata=[usd_text(v) for v in usd],
                hovertemplate=f"%{{x:,.6~g}} {quote}<br>{lev:g}×: %{{customdata}}<extra></extra>",
            ),
            row=2, col=1,
        )  # fmt: skip


def _draw_cumulative(
    fig: go.Figure, cur_l: CoarseBook, cur_s: CoarseBook, last_close: float, quote: str
) -> None:
    """Row 3: USD liquidated by a move from the price to each level (longs down, shorts up)."""
    price = cur_l.price_mid
    long_rows = np.where(price <= last_close, cur_l.usd[:, 0].astype(np.float64), 0.0)
    short_rows = np.where(price > last_close, cur_s.usd[:, 0].astype(np.float64), 0.0)
    cum_long = np.cumsum(long_rows[::-1])[::-1]  # from the price down to each row
    cum_short = np.cumsum(short_rows)  # from the price up to each row
    below, above = price <= last_close, price > last_close
    for mask, cum, name, colour in (
        (below, cum_long, "longs, price falls to", LONG_COLOUR),
        (above, cum_short, "shorts, price rises to", SHORT_COLOUR),
    ):
        fig.add_trace(
            go.Scatter(
                x=price[mask], y=cum[mask], mode="lines", name=name, line={"color": colour, "width": 2},
                fill="tozeroy", legend="legend3", customdata=[usd_text(v) for v in cum[mask]],
                hovertemplate=f"%{{x:,.6~g}} {quote}<br>%{{customdata}}<extra></extra>",
            ),
            row=3, col=1,
        )  # fmt: skip


def _map_axes(fig: go.Figure, last_close: float, fr: _Frame, quote: str) -> None:
    """Rows 2 and 3: the price line, shared price range, axis titles and each panel's legend."""
    lo, hi = fr.lo, fr.hi
    for row in (2, 3):
        fig.add_vline(x=last_close, line_width=1, line_dash="dot", line_color="#555555", row=row, col=1)
    fig.update_xaxes(range=[lo, hi], row=2, col=1, showticklabels=False)
    fig.update_xaxes(range=[lo, hi], row=3, col=1)
    # the axis title as an annotation: plotly 7 drew this colspan axis's own title over its tick labels
    fig.add_annotation(
        text=f"price ({quote})", x=0.5, y=0, xref="paper", yref="paper", yanchor="top", yshift=-22,
        showarrow=False, font={"size": 14},
    )  # fmt: skip
    # each panel's legend at its top right, one line: leverage for the map, sides for the cumulative
    for name, axis in (("legend2", fig.layout.yaxis3), ("legend3", fig.layout.yaxis4)):
        fig.layout[name] = {
            "orientation": "h",
            "x": 1.0,
            "xanchor": "right",
            "y": axis.domain[1],
            "yanchor": "bottom",
            "font": {"size": 10},
            "bgcolor": "rgba(255,255,255,0.8)",
        }
    fig.update_yaxes(title_text="USD per row", tickprefix="$", exponentformat="B", row=2, col=1)
    fig.update_yaxes(title_text="cumulative USD", tickprefix="$", exponentformat="B", row=3, col=1)
