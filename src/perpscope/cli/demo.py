"""``perpscope demo``: import the bundled real data into a fresh store and show the first look."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from perpscope.cli.common import console, err_console, fail
from perpscope.cli.importing import print_report
from perpscope.core.time import interval_label, ms_to_iso
from perpscope.ingest.importer import import_paths
from perpscope.report.format import pct_text, sign_class, usd_text
from perpscope.report.html import write_overview
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
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo store and report.")] = Path(
        "perpscope-demo"
    ),
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep an existing demo store instead of starting fresh.")
    ] = False,
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
    views = collect_overview(lake)
    if not views:
        raise fail("no candles in the demo store", code=1)
    for table in symbol_tables(views):
        console().print(table)
    liq = liquidation_table(lake, top=10)
    if liq.height:
        console().print(recorded_liquidations_table(liq))
    page = write_overview(out / "report.html", views, liq, "perpscope demo — bundled real Binance data")
    err_console().print(f"Wrote [bold]{page}[/] (open it in a browser). Store: {data_dir}")


def symbol_tables(views: list[SymbolView]) -> list[Table]:
    """Per symbol, over the last 7 days of its data: price and funding; then OI and liquidations.

    Two narrow tables rather than one wide one, so both fit an 80-column terminal.
    """
    venues = {v.venue for v in views}

    def name(v: SymbolView) -> str:
        return v.summary.canonical if len(venues) == 1 else f"{v.venue}:{v.summary.canonical}"

    price = Table(
        title="Last 7 days of each symbol's data: price and funding",
        caption="funding: last settlement per interval; APR = rate × settlements per 365-day year",
        header_style="bold",
    )
    price.add_column("symbol", no_wrap=True)
    price.add_column("to (UTC)", no_wrap=True)
    for col in ("price", "7d Δ", "funding", "APR", "mean APR"):
        price.add_column(col, justify="right", no_wrap=True)
    lev = Table(
        title="Open interest and liquidations over the same 7 days",
        caption="OI Δ in USD and in coins (coins Δ separates new positions from revaluation); "
        "liq L/S: liquidated longs/shorts, – = none recorded",
        header_style="bold",
    )
    lev.add_column("symbol", no_wrap=True)
    for col in ("OI", "OI Δ", "coins Δ", "liq L", "liq S"):
        lev.add_column(col, justify="right", no_wrap=True)
    for v in views:
        s = v.summary
        rate = s.funding_rate
        fnow = "–" if rate is None else f"{rate * 100:.4f}%/{interval_label(s.funding_interval_ms or 0)}"
        price.add_row(
            name(v),
            ms_to_iso(s.end_ms)[:10],
            "–" if s.price_close is None else f"{s.price_close:.6g}",
            _pct(s.price_change, 1),
            fnow,
            _pct(s.funding_apr, 1),
            _pct(s.funding_mean_apr, 1),
        )
        lev.add_row(
            name(v),
            _usd(s.oi_usd_end),
            _pct(s.oi_change, 1),
            _pct(s.oi_base_change, 1),
            _usd(s.liq_long_usd),
            _usd(s.liq_short_usd),
        )
    return [price, lev]


def recorded_liquidations_table(liq: pl.DataFrame) -> Table:
    """Recorded liquidation events by symbol (a sample of the venue's stream)."""
    t = Table(title="Recorded liquidations (Binance stream sample: lower bounds)", header_style="bold")
    t.add_column("symbol", no_wrap=True)
    for col in ("long liq.", "short liq.", "events"):
        t.add_column(col, justify="right")
    t.add_column("recorded (UTC)")
    for r in liq.iter_rows(named=True):
        t.add_row(
            r["canonical"],
            _usd(r["long_usd"]),
            _usd(r["short_usd"]),
            f"{r['events']:,}",
            f"{ms_to_iso(r['first_ms'])[5:]} → {ms_to_iso(r['last_ms'])[5:]}",
        )
    return t
