"""The demo's chapter on the crash of 10 Oct 2025, read from the team's CoinGlass exports.

The bundled demo data (Binance slices) holds BTCUSDT's 5m candles of those days but not the open
interest, funding and liquidations around them; ``shared/data/coinglass_liquidity_report`` does
(CoinGlass API history, Nov 2024 → Nov 2025: all-exchange OI, OI-weighted funding, Binance liquidations
by side, Binance BTCUSDT 4h candles; provenance in ``shared/data/SOURCES.md``). When that folder sits
beside the project (``../shared/data``, or ``$PERPSCOPE_SHARED_DATA``) the chapter imports it into a
store of its own (``<out>/crash/data``, so the demo store keeps one coherent window) and tells the
crash on one symbol, one window: the bars around it, the regime reading, the heatmap the bar before,
the bars that followed against its hot zones, and the cascade curve at that moment.
Without the folder it says in one line why it is skipped.
"""

from __future__ import annotations

import html
import os
import shutil
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl
import typer
from plotly.subplots import make_subplots
from rich.markup import escape
from rich.table import Table

from perpscope.assemble import StoreInputError
from perpscope.assemble.cascade import fragility_of
from perpscope.assemble.regime_reading import REGIME_WARM_MS, RegimeReading, read_regimes
from perpscope.cli.common import console, err_console, fail
from perpscope.cli.loading import HeatmapView, heatmap_of, load_panel
from perpscope.cli.output import Column, fitted_table, fragility_table, print_report, zone_table
from perpscope.cli.regime_tables import regime_tables
from perpscope.core import config
from perpscope.core.config import SHARED_ENV
from perpscope.core.format import date_text, pct_text, price_text, rate_text, usd_text
from perpscope.core.time import HOUR_MS, ms_to_iso, parse_time_ms
from perpscope.ingest.importer import import_paths
from perpscope.report.cascade_chart import fragility_figure
from perpscope.report.chart_files import write_chart
from perpscope.report.html import heatmap_html
from perpscope.report.regime_band import BAND_LEGEND, add_regime_band
from perpscope.store import Lake

#: The chapter's symbol and venue scope: BTC with all exchanges' open interest (CoinGlass's aggregate)
#: and OI-weighted funding; price and liquidations are Binance's (the exports hold no other).
SYMBOL, VENUE = "BTC-USDT-PERP", "all"
#: The 4h bar that held the crash (opens 20:00 UTC; the wick came near 21:20), and the moment before it.
CRASH_BAR_MS = parse_time_ms("2025-10-10T20:00")
#: The window the chapter reads: a week before the crash bar to two days after it.
WINDOW_START_MS, WINDOW_END_MS = parse_time_ms("2025-10-03"), parse_time_ms("2025-10-13")
EVERY = "4h"
#: The folder of the shared data the chapter imports, and the bundled file with the 5m candles.
SHARED_FOLDER = "coinglass_liquidity_report"
FIVE_MINUTE_FILE = "BTCUSDT_perp_5m_20251006_20251015.csv.gz"


def shared_data_dir() -> Path | None:
    """The shared data folder (:func:`perpscope.core.config.shared_data_dir`) when it holds the CoinGlass
    exports this chapter reads; None otherwise."""
    cand = config.shared_data_dir()
    return cand if cand is not None and (cand / SHARED_FOLDER).is_dir() else None


def skip_reason() -> str:
    """Why the chapter cannot run here, in one line."""
    env = os.environ.get(SHARED_ENV)
    where = env or "shared/data beside the project folder"
    return (
        f"The 10 Oct 2025 chapter is skipped: it reads {SHARED_FOLDER}/ of the team's shared data "
        f"(CoinGlass OI, funding, liquidations), and {where} has none (${SHARED_ENV} names another folder)."
    )


@dataclass(frozen=True)
class CrashChapter:
    """What the chapter adds to the report page: its sections (anchor, heading, HTML body)."""

    sections: list[tuple[str, str, str]]


def crash_chapter(
    out: Path, bundled: Path, pool: Executor, png: bool = True, paths: int = 300
) -> CrashChapter | None:
    """Print the chapter and return its page sections, or print why it is skipped and return None.

    ``bundled``: the demo data folder (its 5m BTCUSDT candles of 6–15 Oct give the crash's low).
    """
    con = console()
    shared = shared_data_dir()
    con.print()
    if shared is None:
        con.print(f"[dim]{escape(skip_reason())}[/]", highlight=False, soft_wrap=True)  # one line
        return None
    con.rule(f"[bold]The crash of 10 Oct 2025: {SYMBOL}, {_day(WINDOW_START_MS)} → {_day(WINDOW_END_MS)} UTC")
    data = out / "crash" / "data"
    if data.exists():
        shutil.rmtree(data)
    lake = Lake(data)
    files = [shared / SHARED_FOLDER, *bundled.glob(FIVE_MINUTE_FILE)]
    err_console().print(f"Importing {shared / SHARED_FOLDER} into [bold]{data}[/] …")
    report = import_paths(files, lake)
    if report.failed:
        print_report(report, notes=False)
        raise fail("the shared CoinGlass exports did not import cleanly (see above)", code=1)
    con.print(
        "Open interest: all exchanges (CoinGlass's aggregate); funding: OI-weighted across exchanges; "
        "price and liquidations: Binance's (the exports hold no other venue's). "
        f"Store: {data}",
        highlight=False,
    )
    # the regimes are read as every front end reads them (assemble/regime_reading): with the 33 days
    # before the window, so its first day is not "insufficient_data", and with the coin's flows
    mp = load_panel(
        lake, VENUE, SYMBOL, _iso(WINDOW_START_MS), _iso(WINDOW_END_MS), EVERY, warm_ms=REGIME_WARM_MS
    )
    rr = read_regimes(lake, mp, VENUE)
    panel = mp.in_range(rr.panel)
    con.print(what_happened(panel), highlight=False)
    con.print(bars_table(panel, CRASH_BAR_MS - 12 * HOUR_MS, CRASH_BAR_MS + 16 * HOUR_MS, con.width, data))
    # the reading as it stood at the crash bar's close (the same labels, cut there)
    for t in regime_tables(rr.until(CRASH_BAR_MS + rr.every_ms), last=4):
        con.print(t)
    sections = [("crash", "10 Oct 2025 · price, OI, liquidations", _panel_section(panel, rr))]
    hm = _heatmap(lake, out, pool, png)
    if hm is not None:
        view, page, job = hm
        con.print(view.headline)
        con.print(zone_table(view.zones))
        con.print(reached_table(view.zones, panel, CRASH_BAR_MS, CRASH_BAR_MS + 24 * HOUR_MS))
        con.print(f"Heatmap before the crash: [bold]{page}[/]", highlight=False)
    frag = _fragility(lake, paths)  # computed while the heatmap's PNG is exported on ``pool``
    if hm is not None:
        note = (
            f"{view.venue} {view.symbol} after the bar of {ms_to_iso(view.last_ms)} UTC (the last bar before "
            f"the crash), price {view.source.last_close:,.2f}; model: {view.label}. In the strip ahead of "
            "that close: the 4h candles of the next 24 h, a marker at each low sized by the longs Binance "
            "liquidated in that bar; the terminal's table 'Hot zones the next 24h reached' lists them."
        )
        body = heatmap_html(view.zones, note, page.name, _png(job))
        sections.append(("crash-heatmap", "10 Oct 2025 · heatmap before the crash", body))
    if frag is not None:
        sections.append(frag)
    return CrashChapter(sections)


def _day(ms: int) -> str:
    return date_text(ms, minutes=False)


def _iso(ms: int) -> str:
    return ms_to_iso(ms)[:16]


def _ms(col: pl.Expr) -> pl.Expr:
    return col.dt.epoch("ms")


#: Columns of the bars table, most wanted first (a narrow terminal keeps those that fit whole).
BAR_COLUMNS = (
    Column("close", "close", price_text),
    Column("oi_usd", "OI", usd_text),
    Column("liq_long_usd", "liq long", usd_text),
    Column("liq_short_usd", "liq short", usd_text),
    Column("low", "low", price_text),
    Column("funding_sampled_8h", "funding/8h", rate_text),  # scope all: the OI-weighted sampled rate
    Column("oi_usd_chg_1d", "OI Δ1d", lambda x: pct_text(x, 1)),
)


def bars_table(panel: pl.DataFrame, lo_ms: int, hi_ms: int, width: int, data: Path) -> Table:
    """The 4h bars of ``[lo_ms, hi_ms)``: close, low, funding, all-exchange OI and its change, Binance
    liquidations by side."""
    rows = panel.filter(_ms(pl.col("ts_ms")).is_between(lo_ms, hi_ms, closed="left"))
    cols = [c for c in BAR_COLUMNS if c.name in rows.columns and rows.get_column(c.name).is_not_null().any()]
    return fitted_table(
        f"{SYMBOL} around the crash, per {EVERY} bar (OI: all exchanges; liq.: Binance)",
        ("bar (UTC)", [date_text(ms) for ms in rows["ts_ms"].dt.epoch("ms")]),
        cols,
        rows.to_dicts(),
        width,
        f"perpscope --data-dir {data} metrics BTCUSDT --venue all --from {_day(lo_ms)}",
    )


def reached(zones: pl.DataFrame, panel: pl.DataFrame, lo_ms: int, hi_ms: int) -> pl.DataFrame:
    """Each hot zone with the first bar of ``[lo_ms, hi_ms)`` whose range touched it (``reached_ms``,
    null when none did) and that bar's Binance liquidations on the zone's side (``liq_usd``)."""
    bars = panel.filter(_ms(pl.col("ts_ms")).is_between(lo_ms, hi_ms, closed="left")).sort("ts_ms")
    out = []
    for z in zones.iter_rows(named=True):
        long = z["side"] == "long"
        hit = (
            bars.filter(pl.col("low") <= z["price_hi"])
            if long
            else bars.filter(pl.col("high") >= z["price_lo"])
        )
        first = hit.row(0, named=True) if hit.height else None
        liq = None if first is None else first["liq_long_usd" if long else "liq_short_usd"]
        when = None if first is None else int(first["ts_ms"].timestamp() * 1000)
        out.append({**z, "reached_ms": when, "liq_usd": liq})
    return pl.DataFrame(out, schema={**zones.schema, "reached_ms": pl.Int64, "liq_usd": pl.Float64})


def reached_table(zones: pl.DataFrame, panel: pl.DataFrame, lo_ms: int, hi_ms: int) -> Table:
    """:func:`reached` as a table: where the model's hot zones sat, whether the next bars got there; the
    caption sets the USD of the zones reached beside the liquidations Binance recorded in those bars."""
    r = reached(zones, panel, lo_ms, hi_ms)
    hours = (hi_ms - lo_ms) // HOUR_MS
    notes = []
    for side in ("long", "short"):
        hit = r.filter((pl.col("side") == side) & pl.col("reached_ms").is_not_null())
        total = r.filter(pl.col("side") == side).height
        if not hit.height:
            notes.append(f"{side}: none of {total} reached")
            continue
        bars = panel.filter(_ms(pl.col("ts_ms")).is_in(hit["reached_ms"].unique().implode()))
        liq = float(bars.get_column(f"liq_{side}_usd").sum())
        notes.append(
            f"{side}: {hit.height} of {total} reached, {usd_text(float(hit['usd'].sum()))} in the model; "
            f"Binance recorded {usd_text(liq)} of {side} liquidations in the bar(s) that reached them"
        )
    t = Table(
        title=f"Hot zones the next {hours}h reached (bars from {date_text(lo_ms)} UTC)",
        caption="; ".join(notes) + " (model: all exchanges' OI; liquidations: Binance only)",
        header_style="bold",
    )
    for col in ("side", "zone mid", "model USD", "reached (UTC)"):
        t.add_column(col, justify="left" if col in ("side", "reached (UTC)") else "right", no_wrap=True)
    for z in r.iter_rows(named=True):
        t.add_row(
            f"{z['side']} #{z['rank']}",
            price_text(z["price_mid"]),
            usd_text(z["usd"]),
            "no" if z["reached_ms"] is None else date_text(z["reached_ms"]),
        )
    return t


def _heatmap(
    lk: Lake, out: Path, pool: Executor, png: bool
) -> tuple[HeatmapView, Path, Future[Path] | None] | None:
    """The heatmap after the last bar before the crash, its page and (when asked and chromium exists)
    its PNG being exported on ``pool``; None when the store cannot give it (the reason is printed)."""
    try:
        view = heatmap_of(lk, VENUE, SYMBOL, None, CRASH_BAR_MS)
    except typer.Exit:  # heatmap_of has printed why
        return None
    fig = with_what_followed(view.figure(), lk)
    stem = "heatmap-BTCUSDT-2025-10-10"
    job = pool.submit(write_chart, fig, out / f"{stem}.png") if png and shutil.which("chromium") else None
    return view, write_chart(fig, out / f"{stem}.html"), job


def _png(job: Future[Path] | None) -> Path | None:
    """The exported PNG, or None (not asked, no chromium, or the export failed: said on stderr)."""
    if job is None:
        return None
    try:
        return job.result()
    except Exception as e:  # a PNG is extra: the HTML page is written
        err_console().print(f"[yellow]note:[/] no PNG of the crash heatmap ({e})")
        return None


def with_what_followed(fig: go.Figure, lk: Lake, hours: int = 24) -> go.Figure:
    """``fig`` (the heatmap computed at the close before the crash) with the ``hours`` of 4h candles that
    followed, drawn in the strip ahead of that close beside the book and zones, and a marker at each
    bar's low sized by the longs Binance liquidated in it (hover: both sides): where the liquidations
    then printed, against where the model had put them."""
    mp = load_panel(lk, VENUE, SYMBOL, _iso(CRASH_BAR_MS), _iso(CRASH_BAR_MS + hours * HOUR_MS), EVERY)
    after = mp.priced.sort("ts_ms")
    if after.is_empty():
        return fig
    x = after["ts_ms"].to_list()
    fig.add_trace(
        go.Candlestick(
            x=x, open=after["open"], high=after["high"], low=after["low"], close=after["close"],
            name=f"the next {hours}h", increasing_line_color="#ffd43b", decreasing_line_color="#ffd43b",
            increasing_fillcolor="rgba(0,0,0,0)", decreasing_fillcolor="rgba(0,0,0,0)", line_width=1.5,
        ),
        row=1, col=1,
    )  # fmt: skip
    longs = [v or 0.0 for v in after["liq_long_usd"]]
    shorts = [v or 0.0 for v in after["liq_short_usd"]]
    fig.add_trace(
        go.Scatter(
            x=x, y=after["low"], mode="markers", name="longs liquidated then (Binance)",
            marker={"size": [max(6.0, (v / 1e6) ** 0.5 * 2.2) for v in longs], "color": "rgba(231,76,60,0.7)",
                    "line": {"color": "#ffffff", "width": 1}},
            customdata=[[usd_text(a), usd_text(b)] for a, b in zip(longs, shorts, strict=True)],
            hovertemplate="%{x}<br>low %{y:,.1f}<br>longs %{customdata[0]} · shorts %{customdata[1]}"
            "<extra>liquidated (Binance)</extra>",
        ),
        row=1, col=1,
    )  # fmt: skip
    fig.update_xaxes(rangeslider_visible=False)
    return fig


def _fragility(lk: Lake, paths: int) -> tuple[str, str, str] | None:
    """The cascade curve at the close of the last bar before the crash: printed, and its page section."""
    try:
        st, frag = fragility_of(lk, VENUE, SYMBOL, CRASH_BAR_MS, paths=paths)
    except StoreInputError as e:
        console().print(f"[dim]No cascade curve before the crash: {e}[/]")
        return None
    when = date_text(st.end_ms)
    console().print(fragility_table(frag, f"{SYMBOL} at {when} UTC, before the crash: cascade by shock size"))
    title = f"{VENUE} {SYMBOL} fragility at {ms_to_iso(st.end_ms - 1)} UTC (price {st.price:,.2f})"
    note = (
        f"The cascade model at {when} UTC, the close of the last bar before the crash: how much a shock of "
        f"each size would liquidate and how far the price would then go (median and p10–p90 over {paths} "
        "paths; docs/cascade.md)."
    )
    body = f"<p class=note>{html.escape(note)}</p>" + fragility_figure(frag, title).to_html(
        full_html=False, include_plotlyjs=False
    )
    return ("crash-cascade", "10 Oct 2025 · cascade before the crash", body)


def _panel_section(panel: pl.DataFrame, rr: RegimeReading) -> str:
    """Candles, the regime band, all-exchange OI and Binance liquidations by side over the chapter's
    window on one time axis, in the report's own chart style (:func:`perpscope.report.html.symbol_figure`)."""
    p = panel.sort("ts_ms")
    x = p["ts_ms"].to_list()
    fig = make_subplots(
        rows=4,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.045,
        row_heights=[0.45, 0.035, 0.2, 0.315],
        subplot_titles=[
            f"price (Binance {EVERY}, USDT)",  # short titles: a phone's width cuts long ones
            "",
            "OI, all exchanges (USD)",
            "liquidations, Binance (USD): longs ↑ shorts ↓",
        ],
    )
    fig.add_trace(
        go.Candlestick(x=x, open=p["open"], high=p["high"], low=p["low"], close=p["close"], name="price"),
        row=1,
        col=1,
    )
    add_regime_band(fig, rr.episodes(), row=2)
    fig.add_trace(
        go.Scatter(x=x, y=p["oi_usd"], mode="lines", name="OI USD", line={"color": "#3554d1"}),
        row=3,
        col=1,
    )
    fig.add_trace(
        go.Bar(x=x, y=p["liq_long_usd"], name="longs liquidated", marker_color="#b3261e", showlegend=False),
        row=4,
        col=1,
    )
    shorts = [None if v is None else -v for v in p["liq_short_usd"]]
    fig.add_trace(
        go.Bar(x=x, y=shorts, name="shorts liquidated", marker_color="#0b7a3e", showlegend=False),
        row=4,
        col=1,
    )
    for name in ("price", "OI USD"):  # the legend is the regime band's (its labels)
        fig.update_traces(showlegend=False, selector={"name": name})
    fig.update_layout(
        height=720,
        margin={"l": 60, "r": 20, "t": 40, "b": 60},
        xaxis_rangeslider_visible=False,
        template="plotly_white",
        barmode="relative",
        legend=BAND_LEGEND,
    )
    note = (
        f"{SYMBOL}, {EVERY} bars, {_day(WINDOW_START_MS)} → {_day(WINDOW_END_MS)} UTC. The regime band is "
        "the classifier's reading of each bar (docs/regimes.md)."
    )
    return f"<p class=note>{html.escape(note)}</p>" + fig.to_html(full_html=False, include_plotlyjs=False)


def crash_bar(panel: pl.DataFrame) -> dict[str, Any]:
    """The crash bar's row of the panel with the bar before it as ``prev_*`` (empty when absent)."""
    p = panel.filter(_ms(pl.col("ts_ms")).is_in([CRASH_BAR_MS - 4 * HOUR_MS, CRASH_BAR_MS])).sort("ts_ms")
    if p.height != 2:
        return {}
    before, bar = p.row(0, named=True), p.row(1, named=True)
    return {**bar, **{f"prev_{k}": v for k, v in before.items()}}


def what_happened(panel: pl.DataFrame) -> str:
    """The crash bar in one sentence, from the data's own numbers."""
    b = crash_bar(panel)
    if not b:
        return f"The store holds no {EVERY} bar at {date_text(CRASH_BAR_MS)} UTC."
    drop = b["low"] / b["prev_close"] - 1
    oi = None if b["oi_usd"] is None or b["prev_oi_usd"] is None else b["oi_usd"] / b["prev_oi_usd"] - 1
    return (
        f"In the {date_text(CRASH_BAR_MS)} UTC bar the price fell from {price_text(b['prev_close'])} "
        f"to a low of {price_text(b['low'])} ({pct_text(drop, 1)}) and closed at "
        f"{price_text(b['close'])}; open interest of all exchanges went {usd_text(b['prev_oi_usd'])} → "
        f"{usd_text(b['oi_usd'])} "
        f"({pct_text(oi, 1)}); Binance liquidated {usd_text(b['liq_long_usd'])} of longs and "
        f"{usd_text(b['liq_short_usd'])} of shorts."
    )
