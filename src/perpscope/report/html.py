"""Self-contained HTML: a summary table and, per symbol, price / funding / open-interest panels.

plotly.js is embedded once, so the page opens offline and can be mailed as one file.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from perpscope.core.time import interval_label, ms_to_iso
from perpscope.report.format import pct_text, sign_class, usd_text
from perpscope.report.overview import SymbolView

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2330;
background:#fafbfc}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 6px}
p.sub{color:#5b6473;margin:0 0 16px}
table{border-collapse:collapse;font-size:13px;background:#fff}
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
    """Three stacked panels sharing the time axis: candles, funding APR bars, OI (USD)."""
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        row_heights=[0.55, 0.2, 0.25],
        subplot_titles=(
            f"{v.summary.canonical} price ({interval_label(int(v.candles['interval_ms'][0]))} candles)",
            "funding, annualized (APR; each settlement's rate × settlements per year)",
            "open interest (USD)",
        ),
    )
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
            row=2,
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
            row=3,
            col=1,
        )
    fig.update_layout(
        height=640,
        margin={"l": 60, "r": 20, "t": 40, "b": 30},
        xaxis_rangeslider_visible=False,
        template="plotly_white",
    )
    fig.update_yaxes(title_text="%", row=2, col=1)
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


def write_overview(path: Path, views: Sequence[SymbolView], liquidations: pl.DataFrame, title: str) -> Path:
    """Write the page to ``path`` and return it."""
    parts = [
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        "<p class=sub>Each row summarizes the last 7 days of the symbol's candles; the charts show its last "
        "30 days. Funding APR = rate per "
        "interval × intervals per 365-day year. OI change in coins separates new positions from price "
        "revaluation. – means the store holds no such data for the window.</p>",
        summary_table(views),
        "<h2>Recorded liquidations</h2>",
        "<p class=note>Binance publishes at most one liquidation per symbol per second on its stream, so "
        "recorded totals are lower bounds.</p>",
        liquidation_html(liquidations),
    ]
    first = True
    for v in views:
        parts.append(f"<h2>{html.escape(v.venue)} · {html.escape(v.summary.canonical)}</h2>")
        parts.append(
            symbol_figure(v).to_html(full_html=False, include_plotlyjs=first, config={"displaylogo": False})
        )
        first = False
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
