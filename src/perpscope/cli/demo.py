"""``perpscope demo``: import the bundled real data into a fresh store and show the first look.

Sections, each a small function so another view is one more call: the symbols' summary tables, recorded
liquidations, regimes (reading now and timeline; band on the page), the SOLUSDT liquidation heatmap, the
BTC cascade fragility curve.
"""

from __future__ import annotations

import html
import shutil
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import plotly.graph_objects as go
import polars as pl
import typer
from rich.markup import escape
from rich.table import Table

from perpscope.assemble import StoreInputError
from perpscope.assemble.cascade import fragility_of
from perpscope.assemble.regime_reading import RegimeReading, regime_reading
from perpscope.cli.common import DEMO_STORE, console, err_console, fail
from perpscope.cli.demo_crash import crash_chapter
from perpscope.cli.loading import HeatmapView, heatmap_of
from perpscope.cli.output import fragility_table, print_report, zone_table
from perpscope.cli.regime_tables import regime_tables
from perpscope.core.config import default_data_dir as settings_default_dir
from perpscope.core.format import MISSING, date_text, pct_text, price_text, rate_text, sign_class, usd_text
from perpscope.core.kernel_cache import kernel_cached
from perpscope.core.time import DAY_MS, interval_label, interval_ms, ms_to_iso
from perpscope.ingest.importer import import_paths
from perpscope.report.cascade_chart import fragility_figure
from perpscope.report.chart_files import write_chart
from perpscope.report.html import heatmap_html, write_overview
from perpscope.report.overview import SymbolView, collect_overview, liquidation_table
from perpscope.store import Lake


def demo_data_dir() -> Path:
    """The bundled demo files (see ``perpscope/data/demo/README.md`` for their source)."""
    return Path(str(resources.files("perpscope") / "data" / "demo"))


_RICH_STYLE = {"pos": "green", "neg": "red", "na": "dim", "": "white"}


def _pct(x: float | None, digits: int = 2) -> str:
    return f"[{_RICH_STYLE[sign_class(x)]}]{pct_text(x, digits)}[/]"


def _usd(x: float | None) -> str:
    return usd_text(x) if x is not None else f"[dim]{usd_text(x)}[/]"


def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the demo store and report.")
    ] = DEMO_STORE.parent,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep an existing demo store instead of starting fresh.")
    ] = False,
    png: Annotated[
        bool,
        typer.Option(
            "--png/--no-png", help="Also draw the heatmap as PNG (needs chromium; adds a few seconds)."
        ),
    ] = True,
    crash: Annotated[
        bool,
        typer.Option(
            "--crash/--no-crash",
            help="The 10 Oct 2025 chapter, read from the team's shared CoinGlass exports when "
            "shared/data is beside the project ($PERPSCOPE_SHARED_DATA names another folder).",
        ),
    ] = True,
) -> None:
    """Import the bundled real Binance data into a fresh store, print a summary, write an HTML page."""
    data_dir = out / "data"
    if data_dir.exists() and not keep:
        shutil.rmtree(data_dir)
    lake = Lake(data_dir)
    src = demo_data_dir()
    console().print(f"Importing the bundled real data ({src}) into [bold]{data_dir}[/] …")
    report = import_paths([src], lake)
    print_report(report, notes=False)
    if report.failed:
        raise fail("the bundled demo data did not import cleanly (see above)", code=1)
    first_run = first_compile_note()
    if first_run:
        err_console().print(f"[dim]{first_run}[/]", highlight=False)
    # a spinner on a terminal (nothing when piped): reading every symbol takes seconds, minutes on a
    # first run, and silence reads as a hang
    with err_console().status("Reading the market: prices, funding, open interest, regimes …"):
        views = collect_overview(lake)
        if not views:
            raise fail("no candles in the demo store", code=1)
        liq = liquidation_table(lake, top=10)
        runs = regime_runs(lake, views)
    con = console()
    story = next((v for v in views if (v.venue, v.summary.canonical) == ("binance", STORY_SYMBOL)), None)
    others = [v for v in views if v is not story]
    with ThreadPoolExecutor(max_workers=1) as pool:  # the PNG export (Chromium) runs beside the rest
        sections: list[tuple[str, str, str]] = []
        if story is not None:
            # one symbol, one window, one moment: every section of the story ends at the same bar
            end = story.summary.end_ms
            con.print()
            con.rule(f"[bold]The story: {STORY_SYMBOL} on Binance, {_day(end - STORY_MS)} → {_day(end)} UTC")
            con.print(
                f"The latest {STORY_MS // DAY_MS} days where price, open interest and funding all exist in "
                "the bundled data. Every table below reads this window and ends at the same bar.",
                highlight=False,
            )
            for table in symbol_tables([story], "the window's last 7 days"):
                con.print(table)
            story_regimes(lake, end)
            hm = demo_heatmap(lake, out, pool, png=png, end=end)
            if hm is not None:
                hm.print()
                sections.append(hm.section())
            frag = demo_fragility(lake, end=end)
            if frag is not None:
                sections.append(frag)
        if crash:  # the 10 Oct 2025 crash from the shared CoinGlass exports, in a store of its own
            chapter = crash_chapter(out, src, pool, png=png)
            if chapter is not None:
                sections.extend(chapter.sections)
        con.print()
        con.rule("[bold]Elsewhere in the bundled data[/] (each symbol's own latest week)")
        for table in symbol_tables(others):
            con.print(table)
        for table in regime_demo_tables({k: r for k, r in runs.items() if k[1] != STORY_SYMBOL}):
            con.print(table)
        if liq.height:
            con.print(recorded_liquidations_table(liq))
    views = [with_episodes(v, runs) for v in views]
    page = write_overview(
        out / "report.html", views, liq, "perpscope demo — bundled real Binance data", sections
    )
    err_console().print(f"Wrote [bold]{page}[/] (open it in a browser). Store: {data_dir}")
    print_next_steps(data_dir)


def first_compile_note() -> str | None:
    """A line for a first run whose numerical kernels are not compiled yet (numba compiles them on first
    use and caches them on disk), None when they are (or numba does not say)."""
    from perpscope.regimes.episode_text import episode_table
    from perpscope.regimes.grid_labels import label_grid

    if all(kernel_cached(k) is not False for k in (label_grid, episode_table)):
        return None
    return (
        "First run here: perpscope compiles its numerical kernels once (about half a minute on a small "
        "machine); later runs reuse them."
    )


#: The demo's story: one symbol (the most open interest in the bundled data) over one window.
STORY_SYMBOL = "BTC-USDT-PERP"
STORY_MS = 30 * DAY_MS


def _day(ms: int) -> str:
    return date_text(ms, minutes=False)


def story_regimes(lk: Lake, end_ms: int) -> None:
    """The story symbol's regimes over the story window at :data:`REGIME_EVERY`: reading, the latest
    episodes, treadmill, breakers (the tables ``perpscope regimes`` prints, from the same reading)."""
    rr = _regimes_of(lk, "binance", STORY_SYMBOL, end_ms)
    if rr is not None:
        for t in regime_tables(rr, last=6):
            console().print(t)


def next_commands(data_dir: Path) -> list[str]:
    """Three commands to try after the demo, each of which works verbatim on the demo store: with
    ``--data-dir`` unless the other commands would find the demo store by themselves (no store at the
    default place, the demo's default folder; :func:`perpscope.cli.common.reading_lake`)."""
    found = data_dir == DEMO_STORE and not Lake(settings_default_dir()).records_present()
    pre = "perpscope" if found else f"perpscope --data-dir {data_dir}"
    return [
        f"{pre} regimes SOLUSDT --every 1h        # the regime of every bar, with its evidence",
        f"{pre} metrics BTCUSDT --from 2026-03-01 --to 2026-03-20   # price, funding, OI per 4h",
        f"{pre} serve                              # the dashboard on http://127.0.0.1:8000",
    ]


def print_next_steps(data_dir: Path) -> None:
    con = console()
    con.print("\n[bold]Next[/] (these read the demo store):")
    for c in next_commands(data_dir):
        con.print(f"  {escape(c)}", soft_wrap=True, highlight=False)


def symbol_tables(views: list[SymbolView], title: str = "each symbol's latest 7 days") -> list[Table]:
    """Per symbol, over the last 7 days of its data: price and funding; then OI and liquidations.

    Two narrow tables rather than one wide one, so both fit an 80-column terminal; symbols are named by
    their coin when every one is a USDT perp of one venue (the title says so). Liquidation columns are
    left out when no symbol has a recorded liquidation in its week (the caption says so).
    """
    venues = {v.venue for v in views}
    usdt = len(venues) == 1 and all(v.summary.canonical.endswith("-USDT-PERP") for v in views)

    def name(v: SymbolView) -> str:
        c = v.summary.canonical.split("-")[0] if usdt else v.summary.canonical
        return c if len(venues) == 1 else f"{v.venue}:{c}"

    what = f"{next(iter(venues))} USDT perps, " if usdt else ""
    price = Table(
        title=f"Price and funding: {what}{title}",
        caption="funding: last settlement, per its interval; APR = rate × settlements per 365-day year",
        header_style="bold",
    )
    price.add_column("coin" if usdt else "symbol", no_wrap=True)
    price.add_column("to (UTC)", no_wrap=True)
    for col in ("price", "7d Δ", "funding", "APR", "mean APR"):
        price.add_column(col, justify="right", no_wrap=True)
    any_liq = any(v.summary.liq_long_usd or v.summary.liq_short_usd for v in views)
    lev = Table(
        title=f"Open interest{' and liquidations' if any_liq else ''}: the same 7 days",
        caption="OI Δ in USD and in coins (coins Δ separates new positions from revaluation)"
        + (
            "; liq L/S: liquidated longs/shorts, – = none recorded"
            if any_liq
            else "; no liquidation recorded in these weeks"
        ),
        header_style="bold",
    )
    lev.add_column("coin" if usdt else "symbol", no_wrap=True)
    for col in ("OI", "OI Δ", "coins Δ", *(("liq L", "liq S") if any_liq else ())):
        lev.add_column(col, justify="right", no_wrap=True)
    for v in views:
        s = v.summary
        rate = s.funding_rate
        every = interval_label(s.funding_interval_ms or 0)
        price.add_row(
            name(v),
            ms_to_iso(s.end_ms)[:10],
            price_text(s.price_close),
            _pct(s.price_change, 1),
            MISSING if rate is None else f"{rate_text(rate)}/{every}",
            _pct(s.funding_apr, 1),
            _pct(s.funding_mean_apr, 1),
        )
        liq = (_usd(s.liq_long_usd), _usd(s.liq_short_usd)) if any_liq else ()
        lev.add_row(name(v), _usd(s.oi_usd_end), _pct(s.oi_change, 1), _pct(s.oi_base_change, 1), *liq)
    return [price, lev]


def recorded_liquidations_table(liq: pl.DataFrame) -> Table:
    """Recorded liquidation events by symbol (a sample of the venue's stream), the days in the title."""
    first, last = int(liq["first_ms"].min()), int(liq["last_ms"].max())  # type: ignore[arg-type]
    days = _day(first) if _day(first) == _day(last) else f"{_day(first)} → {_day(last)}"
    t = Table(
        title=f"Recorded liquidations, {days} UTC (Binance stream sample: lower bounds)",
        header_style="bold",
    )
    t.add_column("symbol", no_wrap=True)
    for col in ("long liq.", "short liq.", "events"):
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("recorded (UTC)", no_wrap=True)
    for r in liq.iter_rows(named=True):
        a, b = date_text(r["first_ms"], year=False), date_text(r["last_ms"], year=False)
        t.add_row(
            str(r["canonical"]).removesuffix("-PERP"),
            _usd(r["long_usd"]),
            _usd(r["short_usd"]),
            f"{r['events']:,}",
            f"{a} → {b[6:] if a[:5] == b[:5] else b}",  # same day: the time only
        )
    return t


# --- regimes (docs/regimes.md) -------------------------------------------------------------------------

#: Bar length the demo classifies at: the ``perpscope regimes`` default; the 4h OI file sets the floor.
REGIME_EVERY = "4h"


@dataclass(frozen=True)
class RegimeRun:
    """One symbol's regimes over the chart window: its episodes and the reading of its latest bar."""

    venue: str
    canonical: str
    episodes: pl.DataFrame
    reading: dict[str, Any]


def _regimes_of(lk: Lake, venue: str, canonical: str, end_ms: int | None = None) -> RegimeReading | None:
    """:func:`~perpscope.assemble.regime_reading.regime_reading` of the 30 days before ``end_ms`` (default:
    the last stored bar) at :data:`REGIME_EVERY`, with its warm-up and flows; None (said on stderr) when
    the store cannot give it or it has no priced bar."""
    try:
        rr = regime_reading(lk, venue, canonical, None, end_ms, interval_ms(REGIME_EVERY))
    except StoreInputError as e:  # the demo goes on without this symbol's regimes
        err_console().print(f"[dim]{escape(f'{venue} {canonical}: no regimes: {e}')}[/]")
        return None
    return rr if rr.bars().height else None


def regime_runs(lk: Lake, views: list[SymbolView]) -> dict[tuple[str, str], RegimeRun]:
    """Classify every symbol whose store holds what the labels need (candles, OI and funding).

    The reading is :func:`~perpscope.assemble.regime_reading.regime_reading`'s (the 30 days before the last
    bar, at :data:`REGIME_EVERY`, read with the days before them and the flows): the window the HTML
    charts show, labelled as ``perpscope regimes``, the dashboard and the screener label it.
    """
    runs: dict[tuple[str, str], RegimeRun] = {}
    for v in views:
        if not (v.open_interest.height and v.funding.height):
            continue
        rr = _regimes_of(lk, v.venue, v.summary.canonical)
        if rr is None:
            continue
        runs[(v.venue, v.summary.canonical)] = RegimeRun(
            v.venue, v.summary.canonical, rr.episodes(), rr.now().row(0, named=True)
        )
    return runs


def with_episodes(view: SymbolView, runs: dict[tuple[str, str], RegimeRun]) -> SymbolView:
    """``view`` with its regime episodes (drawn as the band under its price), if it was classified."""
    run = runs.get((view.venue, view.summary.canonical))
    return view if run is None else replace(view, episodes=run.episodes)


def _when(ts: Any) -> str:
    """A Datetime (or ms) → ``"03-19 12:00"`` (UTC; the year is in the tables above)."""
    ms = ts if isinstance(ts, int) else int(ts.timestamp() * 1000)
    return ms_to_iso(ms)[5:]


def _opened_on(evidence: str | None) -> str:
    """An episode's evidence cut to the reading that opened it (the peaks over it are on the page)."""
    text = (evidence or "").removeprefix("opened on: ")
    return text.split("; over ", 1)[0]


def regime_demo_tables(runs: dict[tuple[str, str], RegimeRun], last: int = 2) -> list[Table]:
    """The current reading of each symbol and its ``last`` non-neutral episodes, both 80 columns wide."""
    if not runs:
        return []
    now = Table(
        title=f"Regime now ({REGIME_EVERY} bars; latest bar of each symbol)",
        caption="definitions and thresholds: docs/regimes.md; all tables: perpscope regimes SYMBOL",
        header_style="bold",
    )
    now.add_column("coin", no_wrap=True)
    now.add_column("regime (UTC)", no_wrap=True)
    now.add_column("evidence", overflow="fold")
    tl = Table(
        title=f"Regime timeline: the last {last} non-neutral episodes of each symbol",
        caption="evidence: the reading on the episode's first bar; the HTML band shows every episode",
        header_style="bold",
    )
    # two columns (when | regime and evidence): the evidence keeps most of the 80 columns
    tl.add_column("when (UTC)", no_wrap=True)
    tl.add_column("regime · evidence")
    for (_, canon), run in runs.items():
        r = run.reading
        engaged = f"; breakers: {r['breakers_engaged']}" if r["breakers_engaged"] else ""
        now.add_row(
            canon.split("-")[0],
            f"{r['regime']}\n[dim]since {_when(r['since_ms'])}[/]",
            f"{r['evidence']}{engaged}",
        )
        ep = run.episodes.filter(pl.col("regime") != "neutral").tail(last)
        tl.add_row(f"[bold]{canon}[/]", "" if ep.height else "[dim]no non-neutral episode[/]")
        for e in ep.iter_rows(named=True):
            start, end = _when(e["start_ms"]), _when(e["end_ms"])
            to = end[6:] if end[:5] == start[:5] else end  # same day: the time only
            tl.add_row(f"{start}\n[dim]→ {to}[/]", f"[bold]{e['regime']}[/]\n{_opened_on(e['evidence'])}")
        tl.add_section()
    return [now, tl]


# --- cascade fragility (docs/cascade.md) -----------------------------------------------------------------

#: The demo's cascade symbol: the story's.
CASCADE_SYMBOL = STORY_SYMBOL


def fragility_for_demo(
    lk: Lake, venue: str = "binance", symbol: str = STORY_SYMBOL, paths: int = 300, end: int | None = None
) -> tuple[pl.DataFrame, go.Figure, str]:
    """Fragility curve of ``symbol``'s current state in the store: the table, its figure, and what drove
    it (books, impact law fitted or assumed, depth source, bracket table).

    Print ``fragility_table(table)``, add the figure to the report.
    """
    try:
        st, frag = fragility_of(lk, venue, symbol, end, paths=paths)
    except StoreInputError as e:
        raise fail(str(e)) from e
    title = f"{venue} {symbol} fragility at {ms_to_iso(st.end_ms - 1)} UTC (price {st.price:,.2f})"
    return frag, fragility_figure(frag, title), st.note


def demo_fragility(lk: Lake, paths: int = 300, end: int | None = None) -> tuple[str, str, str] | None:
    """Print the fragility curve of :data:`CASCADE_SYMBOL`'s current state; return the page section.

    None (with the reason already printed) when the store cannot give a state for it.
    """
    try:
        frag, fig, drivers = fragility_for_demo(lk, symbol=CASCADE_SYMBOL, paths=paths, end=end)
    except typer.Exit:
        return None
    moment = f"at {date_text(end)} UTC" if end is not None else "now"
    console().print(fragility_table(frag, f"{CASCADE_SYMBOL} {moment}: cascade by shock size"))
    console().print(f"[dim]driven by: {drivers}[/]")
    note = (
        f"How much a shock of each size would liquidate on {CASCADE_SYMBOL}, how far the price would then "
        "go, and how much of that the forced selling adds beyond the shock: median and p10–p90 over "
        f"{paths} Monte Carlo paths of the heatmap ensemble's position books and the liquidity law "
        f"(docs/cascade.md says what the model leaves out). Driven by: {drivers}."
    )
    body = f"<p class=note>{html.escape(note)}</p>" + fig.to_html(full_html=False, include_plotlyjs=False)
    return ("fragility", f"Cascade fragility · {CASCADE_SYMBOL}", body)


# --- heatmap (docs/heatmap/) ----------------------------------------------------------------------------

#: The demo's heatmap symbol: the story's.
HEATMAP_SYMBOL = STORY_SYMBOL


@dataclass(frozen=True)
class DemoHeatmap:
    """The demo's heatmap: the view, its interactive page and (pending) PNG."""

    view: HeatmapView
    page: Path
    png: Future[Path | None] | None

    def png_path(self) -> Path | None:
        """The PNG once written (waits for the export), or None (no chromium, or it failed)."""
        return self.png.result() if self.png is not None else None

    def print(self) -> None:
        con = console()
        con.print(self.view.headline)
        con.print(zone_table(self.view.zones))
        con.print(f"Heatmap: [bold]{self.page}[/] (interactive)")
        p = self.png_path()
        if p is not None:
            con.print(f"         [bold]{p}[/] (PNG)")

    def section(self) -> tuple[str, str, str]:
        """The report page's heatmap section (anchor, heading, body)."""
        v = self.view
        note = (
            f"{v.venue} {v.symbol}, after the bar of {ms_to_iso(v.last_ms)} UTC, price "
            f"{v.source.last_close:,.2f}; model: {v.label}. Hot zones: the price bands holding the most USD "
            "that the model would see force-closed; distance from the last close (docs/heatmap/)."
        )
        body = heatmap_html(v.zones, note, self.page.name, self.png_path())
        return ("heatmap", f"Liquidation heatmap · {v.symbol}", body)


def _write_png(fig: go.Figure, path: Path) -> Path | None:
    try:
        return write_chart(fig, path)
    except Exception as e:  # kaleido/Chromium trouble must not end the demo: the HTML is written
        err_console().print(f"[yellow]note:[/] no PNG of the heatmap ({e})")
        return None


def demo_heatmap(
    lk: Lake, out: Path, pool: Executor, png: bool = True, end: int | None = None
) -> DemoHeatmap | None:
    """The heatmap of :data:`HEATMAP_SYMBOL`: written to ``out/heatmap-SOLUSDT.html`` and, when
    ``png`` and chromium is installed, a PNG beside it (exported on ``pool`` while the demo goes on)."""
    if ("binance", HEATMAP_SYMBOL) not in set(lk.partitions("candles")):
        return None
    view = heatmap_of(lk, "binance", HEATMAP_SYMBOL, None, end)
    fig = view.figure()
    stem = f"heatmap-{HEATMAP_SYMBOL.replace('-PERP', '').replace('-', '')}"
    job = pool.submit(_write_png, fig, out / f"{stem}.png") if png and shutil.which("chromium") else None
    page = write_chart(fig, out / f"{stem}.html")
    return DemoHeatmap(view, page, job)
