"""``perpscope demo``: import the bundled real data into a fresh store and show the first look."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from perpscope.cli.common import console, err_console, fail
from perpscope.cli.importing import print_report
from perpscope.core.time import interval_label, ms_to_iso
from perpscope.ingest.importer import import_paths
from perpscope.report.html import write_overview
from perpscope.report.overview import collect_overview, liquidation_table
from perpscope.store import Lake


def demo_data_dir() -> Path:
    """The bundled demo files (see ``perpscope/data/demo/README.md`` for their source)."""
    return Path(str(resources.files("perpscope") / "data" / "demo"))


def _pct(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "[dim]–[/]"
    color = "green" if x > 0 else "red" if x < 0 else "white"
    return f"[{color}]{x * 100:+.{digits}f}%[/]"


def _usd(x: float | None) -> str:
    if x is None:
        return "[dim]–[/]"
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"${x / size:,.2f}{unit}"
    return f"${x:,.0f}"


def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo store and report.")] = Path("perpscope-demo"),
    keep: Annotated[bool, typer.Option("--keep", help="Keep an existing demo store instead of starting fresh.")] = False,
) -> None:
    """Import the bundled real Binance data into a fresh store, print a summary, write an HTML page."""
    data_dir = out / "data"
    if data_dir.exists() and not keep:
        shutil.rmtree(data_dir)
    lake = Lake(data_dir)
    src = demo_data_dir()
    console.print(f"Importing the bundled real data ({src}) into [bold]{data_dir}[/] …")
    report = import_paths([src], lake)
    print_report(report)
    if report.failed:
        raise fail("the bundled demo data did not import cleanly (see above)", code=1)
    views = collect_overview(lake)
    if not views:
        raise fail("no candles in the demo store", code=1)
    t = Table(title="Last 7 days of each symbol's data", header_style="bold")
    for col in ("symbol", "window (UTC)", "price", "change", "funding now", "APR", "OI (USD)", "OI Δ", "OI Δ coins",
                "long liq.", "short liq."):
        t.add_column(col, justify="left" if col in ("symbol", "window (UTC)") else "right")
    for v in views:
        s = v.summary
        fnow = "–" if s.funding_rate is None else f"{s.funding_rate * 100:.4f}%/{interval_label(s.funding_interval_ms or 0)}"
        t.add_row(
            f"{v.venue} {s.canonical}",
            f"{ms_to_iso(s.start_ms)[:10]} → {ms_to_iso(s.end_ms)[:10]}",
            "–" if s.price_close is None else f"{s.price_close:,.6g}",
            _pct(s.price_change),
            fnow,
            _pct(s.funding_apr),
            _usd(s.oi_usd_end),
            _pct(s.oi_change),
            _pct(s.oi_base_change),
            _usd(s.liq_long_usd),
            _usd(s.liq_short_usd),
        )
    console.print(t)
    liq = liquidation_table(lake, top=10)
    if liq.height:
        lt = Table(title="Recorded liquidations (Binance stream sample: lower bounds)", header_style="bold")
        for col in ("symbol", "long liquidated", "short liquidated", "events", "recorded (UTC)"):
            lt.add_column(col, justify="left" if col in ("symbol", "recorded (UTC)") else "right")
        for r in liq.iter_rows(named=True):
            lt.add_row(r["canonical"], _usd(r["long_usd"]), _usd(r["short_usd"]), f"{r['events']:,}",
                       f"{ms_to_iso(r['first_ms'])} → {ms_to_iso(r['last_ms'])}")
        console.print(lt)
    page = write_overview(out / "report.html", views, liq, "perpscope demo — bundled real Binance data")
    err_console.print(f"Wrote [bold]{page}[/] (open it in a browser). Store: {data_dir}")
