"""``perpscope metrics SYMBOL``: the per-bar metrics panel of one perp from the store.

:func:`load_panel` is shared with ``perpscope regimes`` and the demo: :func:`perpscope.assemble.panel.
market_panel` (every source, bar length and venue of the scope, stitched, with its provenance) with the
CLI's time parsing and error handling. Every output states the provenance: footnotes under the tables,
a ``provenance`` object beside the ``rows`` in ``--format json``, notes on standard error for csv/parquet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.markup import escape
from rich.table import Table

from perpscope.assemble import StoreInputError
from perpscope.assemble.panel import MarketPanel, market_panel
from perpscope.cli.common import console, err_console, fail, lake
from perpscope.core.time import interval_ms, parse_time_ms
from perpscope.store import Lake

FORMATS = ("table", "json", "csv", "parquet")

SymbolArg = Annotated[
    str, typer.Argument(help="Perp symbol, canonical (BTC-USDT-PERP) or the venue's (BTCUSDT).")
]
VenueOpt = Annotated[
    str,
    typer.Option(
        "--venue",
        help="Venues: one (binance), several (binance,bybit,okx) or all (sums OI and liquidations).",
    ),
]
FromOpt = Annotated[
    str | None, typer.Option("--from", help="Start (UTC date or time; default: 30 days before --to).")
]
ToOpt = Annotated[str | None, typer.Option("--to", help="End, exclusive (default: the last stored bar).")]
EveryOpt = Annotated[
    str, typer.Option("--every", help="Bar length, e.g. 5m, 1h, 4h (a multiple of the stored bars).")
]
FormatOpt = Annotated[str, typer.Option("--format", help="table, json, csv or parquet.")]
OutOpt = Annotated[
    Path | None, typer.Option("--out", help="Write json/csv/parquet here (default: stdout for json/csv).")
]


def load_panel(
    lk: Lake, venue: str, symbol: str, start: str | None, end: str | None, every: str
) -> MarketPanel:
    """The panel of ``symbol`` within the venue scope ``venue`` over ``[start, end)``, with provenance."""
    try:
        every_ms = interval_ms(every)
        hi = parse_time_ms(end) if end else None
        lo = parse_time_ms(start) if start else None
    except ValueError as e:
        raise fail(str(e)) from e
    try:
        return market_panel(lk, venue, symbol, lo, hi, every_ms)
    except StoreInputError as e:
        raise fail(str(e)) from e


def print_provenance(mp: MarketPanel, *, to_stderr: bool = False) -> None:
    """The panel's footnotes: scope and bars, each measure's sources, cover and flags, then notes."""
    out = err_console() if to_stderr else console()
    lines = mp.notes
    out.print(f"[dim]{lines[0]}[/]", soft_wrap=False, highlight=False)
    for line in lines[1:]:
        warn = "[" in line and ("missing" in line or "gap" in line or "ends" in line)
        out.print(f"[{'yellow' if warn else 'dim'}]  · {escape(line)}[/]", highlight=False)


def write_frame(
    df: pl.DataFrame, fmt: str, out: Path | None, provenance: dict[str, object] | None = None
) -> None:
    """``df`` as json, csv or parquet, to ``out`` or standard output.

    json is ``{"provenance": {...}, "rows": [...]}`` when ``provenance`` is given, else the row list."""
    if fmt == "parquet":
        if out is None:
            raise fail("--format parquet needs --out FILE")
        df.write_parquet(out)
    elif fmt == "csv":
        text = df.write_csv()
        out.write_text(text) if out else typer.echo(text, nl=False)
    else:
        rows = df.with_columns(pl.col(pl.Datetime).dt.to_string("%Y-%m-%dT%H:%M:%SZ")).to_dicts()
        text = json.dumps({"provenance": provenance, "rows": rows} if provenance else rows, default=str)
        out.write_text(text) if out else typer.echo(text)
    if out:
        err_console().print(f"Wrote {df.height:,} rows to [bold]{out}[/]")


def metrics(
    ctx: typer.Context,
    symbol: SymbolArg,
    venue: VenueOpt = "binance",
    start: FromOpt = None,
    end: ToOpt = None,
    every: EveryOpt = "4h",
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    rows: Annotated[int, typer.Option("--rows", help="Bars shown in the table (the latest).")] = 20,
) -> None:
    """Per-bar metrics (price, funding, OI, liquidations, flow) of one perp from the store."""
    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    mp = load_panel(lake(ctx), venue, symbol, start, end, every)
    panel = mp.panel
    if fmt != "table":
        if fmt != "json":
            print_provenance(mp, to_stderr=True)
        write_frame(panel, fmt, out, mp.provenance_json())
        return
    cols = [
        c
        for c in (
            "close",
            "volume_usd",
            "funding_rate_8h",
            "funding_sampled_8h",
            "oi_usd",
            "oi_usd_chg_1d",
            "liq_long_usd",
            "liq_short_usd",
            "liq_burst",
            "taker_imbalance",
            "perp_spot_ratio",
        )
        if c in panel.columns
    ]
    t = Table(
        title=f"{mp.view.canonical} · {mp.view.scope.label}: metrics per {every} bar (latest {rows})",
        header_style="bold",
    )
    t.add_column("bar (UTC)", no_wrap=True)
    for c in cols:
        t.add_column(c, justify="right")
    for r in panel.tail(rows).iter_rows(named=True):
        t.add_row(str(r["ts_ms"])[:16], *[_cell(r[c]) for c in cols])
    console().print(t)
    print_provenance(mp)


def _cell(x: object) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.4g}" if abs(x) < 1e6 else f"{x:,.0f}"
    return str(x)
