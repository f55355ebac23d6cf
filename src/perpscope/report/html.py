"""Self-contained HTML: a summary table and, per symbol, price / funding / open-interest panels.

plotly.js is embedded once, so the page opens offline and can be mailed as one file.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from perpscope.core.format import pct_text, sign_class, usd_text
from perpscope.core.time import interval_label, ms_to_iso
from perpscope.report.overview import SymbolView
from perpscope.report.regime_band import BAND_LEGEND, add_regime_band

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2330;
background:#fafbfc}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 6px}
p.sub{color:#5b6473;margin:0 0 16px}
table{border-collapse:collapse;font-size:13px;background:#fff;display:block;max-width:100%;overflow-x:auto}
th,td{padding:5px 10px;border-bottom:1px solid #e3e6ea;text-align:right;white-space:nowrap}
th{background:#f0f2f5} td.l,th.l{text-align:left}
.pos{color:#0b7a3e}.neg{color:#b3261e}.na{color:#9aa1ab}
.note{color:#5b6473;font-size:12px;max-width:900px}
"""


def _pct(x: float | None, digits: int = 2) -> str:
    return f'<span class="{sign_class(x)}">{pct_text(x, digits)}</span>'


def _usd(x: float | None) -> str:
    return f'<span class="na">{usd_text(x)}</span>' if x is None else usd_text(x)


def summary_table(views: Sequence[SymbolView]) -> str:
    head = (
        "<tr><th class=l>venue</th><th class=l>symbol</th><th class=l>window (UTC)</th><th>price</th>"
        "<th>change</th><th>funding now</th><th>funding APR</th><th>mean APR</th><th>OI (USD)</th>"
        "<th>OI change</th><th>OI change (coins)</th><th>long liq.</th><th>short liq.</th></tr>"
    )
    rows = []
    for v in views:
        s = v.summary
        fnow = (
            "–"
            if s.funding_rate is None
            else f"{s.funding_rate * 100:.4f}% / {interval_label(s.funding_interval_ms or 0)}"
        )
        price = "–" if s.price_close is None else f"{s.price_close:,.6g}"
        rows.append(
            f"<tr><td class=l>{html.escape(v.venue)}</td><td class=l>{html.escape(s.canonical)}</td>"
            f"<td class=l>{ms_to_iso(s.start_ms)} → {ms_to_iso(s.end_ms)}</td><td>{price}</td>"
            f"<td>{_pct(s.price_change)}</td><td>{fnow}</td><td>{_pct(s.funding_apr)}</td>"
            f"<td>{_pct(s.funding_mean_apr)}</td><td>{_usd(s.oi_usd_end)}</td><td>{_pct(s.oi_change)}</td>"
            f"<td>{_pct(s.oi_base_change)}</td><td>{_usd(s.liq_long_usd)}</td><td>{_usd(s.liq_short_usd)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def symbol_figure(v: SymbolView) -> go.Figure:
    """Stacked panels sharing the time axis: candles, the regime band (when ``v.episodes`` is set),
    funding APR bars, OI (USD)."""
    band = v.episodes is not None and v.episodes.height > 0
    titles = [
        f"{v.summary.canonical} price ({interval_label(int(v.candles['interval_ms'][0]))} candles)",
        "funding, annualized (APR; each settlement's rate × settlements per year)",
        "open interest (USD)",
    ]
    heights = [0.55, 0.2, 0.25]
    if band:
        titles.insert(1, "")
        heights = [0.52, 0.035, 0.195, 0.25]
    fig = make_subplots(
        rows=len(titles),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.045 if band else 0.04,
        row_heights=heights,
        subplot_titles=titles,
    )
    fr, oir = (3, 4) if band else (2, 3)
    if band and v.episodes is not None:
        add_regime_band(fig, v.episodes, row=2)
    c = v.candles
    fig.add_trace(
        go.Candlestick(
            x=c["ts_ms"].to_list(),
            open=c["open"],
            high=c["high"],
            low=c["low"],
            close=c["close"],
            name="price",
            showlegend=False,
        ),
        row=1,
        col=1,
    )
    if v.funding.height:
        f = v.funding
        colors = ["#0b7a3e" if r >= 0 else "#b3261e" for r in f["rate"]]
        fig.add_trace(
            go.Bar(
                x=f["ts_ms"].to_list(),
                y=(f["rate_apr"] * 100).to_list(),
                marker_color=colors,
                name="funding APR %",
                showlegend=False,
                hovertemplate="%{x}<br>APR %{y:.2f}%<extra></extra>",
            ),
            row=fr,
            col=1,
        )
    if v.open_interest.height:
        oi = v.open_interest.filter(pl.col("interval_ms") == v.open_interest["interval_ms"].min()).sort(
            "ts_ms"
        )
        fig.add_trace(
            go.Scatter(
                x=oi["ts_ms"].to_list(),
                y=oi["oi_usd"].to_list(),
                mode="lines",
                name="OI USD",
                showlegend=False,
                line={"color": "#3554d1"},
            ),
            row=oir,
            col=1,
        )
    fig.update_layout(
        height=700 if band else 640,
        margin={"l": 60, "r": 20, "t": 40, "b": 60 if band else 30},
        xaxis_rangeslider_visible=False,
        template="plotly_white",
        showlegend=band,
        legend=BAND_LEGEND,
    )
    fig.update_yaxes(title_text="%", row=fr, col=1)
    return fig


def liquidation_html(table: pl.DataFrame) -> str:
    if table.is_empty():
        return "<p class=note>No liquidation events in the store.</p>"
    rows = "".join(
        f"<tr><td class=l>{html.escape(r['venue'])}</td><td class=l>{html.escape(r['canonical'])}</td>"
        f"<td>{_usd(r['long_usd'])}</td><td>{_usd(r['short_usd'])}</td><td>{r['events']:,}</td>"
        f"<td class=l>{ms_to_iso(r['first_ms'])} → {ms_to_iso(r['last_ms'])}</td></tr>"
        for r in table.iter_rows(named=True)
    )
    return (
        "<table><tr><th class=l>venue</th><th class=l>symbol</th>"
        "<th>long liquidated</th><th>short liquidated</th>"
        f"<th>events</th><th class=l>recorded (UTC)</th></tr>{rows}</table>"
    )


def heatmap_html(zones: pl.DataFrame, note: str, link: str, png: Path | None = None) -> str:
    """The heatmap section's body: a note, the hot zones table, the chart (``png`` inlined as a data
    URI, so the page stays one file) and a link to the interactive chart at ``link`` (relative URL)."""
    rows = "".join(
        f"<tr><td class=l>{html.escape(str(r['side']))}</td><td>{r['rank']}</td>"
        f"<td>{r['price_lo']:,.2f} – {r['price_hi']:,.2f}</td><td>{usd_text(r['usd'])}</td>"
        f"<td><span class={sign_class(r['distance_pct'])}>{r['distance_pct']:+.2f}%</span></td></tr>"
        for r in zones.iter_rows(named=True)
    )
    table = (
        "<table><tr><th class=l>side</th><th>#</th><th>zone (price)</th><th>USD</th>"
        f"<th>distance</th></tr>{rows}</table>"
    )
    parts = [f"<p class=note>{html.escape(note)}</p>", table]
    if png is not None and png.exists():
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        parts.append(
            f'<p><a href="{html.escape(link)}"><img alt="liquidation heatmap" style="max-width:100%;'
            f'border:1px solid #e3e6ea" src="data:image/png;base64,{data}"></a></p>'
        )
    parts.append(
        f'<p class=note><a href="{html.escape(link)}">Open the interactive heatmap</a> '
        "(a separate page beside this one; zoom and hover the model book).</p>"
    )
    return "\n".join(parts)


def write_overview(
    path: Path,
    views: Sequence[SymbolView],
    liquidations: pl.DataFrame,
    title: str,
    sections: Sequence[tuple[str, str, str]] = (),
) -> Path:
    """Write the page to ``path`` and return it.

    ``sections`` are extra ``(anchor id, heading, body HTML)`` blocks placed after the symbols' charts
    (e.g. the demo's heatmap); a contents line at the top links to every symbol and section.
    """
    anchors = [(f"sym-{i}", f"{v.summary.canonical}") for i, v in enumerate(views)]
    anchors += [(a, h) for a, h, _ in sections]
    toc = " · ".join(f'<a href="#{html.escape(a)}">{html.escape(h)}</a>' for a, h in anchors)
    band = any(v.episodes is not None and v.episodes.height for v in views)
    parts = [
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        "<p class=sub>Each row summarizes the last 7 days of the symbol's candles; the charts show its last "
        "30 days. Funding APR = rate per "
        "interval × intervals per 365-day year. OI change in coins separates new positions from price "
        "revaluation. – means the store holds no such data for the window."
        + (
            " The coloured band under each price panel is the regime timeline (docs/regimes.md): one "
            "segment per episode, its evidence on hover."
            if band
            else ""
        )
        + "</p>",
        f"<p class=note>Contents: {toc}</p>",
        summary_table(views),
        "<h2>Recorded liquidations</h2>",
        "<p class=note>Binance publishes at most one liquidation per symbol per second on its stream, so "
        "recorded totals are lower bounds.</p>",
        liquidation_html(liquidations),
    ]
    first = True
    for (anchor, _), v in zip(anchors, views, strict=False):
        parts.append(f"<h2 id={anchor}>{html.escape(v.venue)} · {html.escape(v.summary.canonical)}</h2>")
        parts.append(
            symbol_figure(v).to_html(full_html=False, include_plotlyjs=first, config={"displaylogo": False})
        )
        if v.notes:
            items = "".join(f"<li>{html.escape(n)}</li>" for n in v.notes[1:])
            parts.append(f"<div class=note>Sources: {html.escape(v.notes[0])}<ul>{items}</ul></div>")
        first = False
    for anchor, heading, body in sections:
        parts.append(f"<h2 id={html.escape(anchor)}>{html.escape(heading)}</h2>")
        parts.append(body)
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
