"""``perpscope metrics SYMBOL``: the per-bar metrics panel of one perp from the store.

:func:`load_panel` is shared with ``perpscope regimes``: :func:`perpscope.assemble.panel.panel_of` (every
record of the symbol, the per-coin ``BASE-AGG-PERP`` fallback, a warm look-back before ``--from``) with
the CLI's time parsing and error handling.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from perpscope.assemble import StoreInputError
from perpscope.assemble.panel import panel_of
from perpscope.cli.common import console, err_console, fail, lake
from perpscope.core.time import interval_ms, parse_time_ms
from perpscope.store import Lake

FORMATS = ("table", "json", "csv", "parquet")

SymbolArg = Annotated[
    str, typer.Argument(help="Perp symbol, canonical (BTC-USDT-PERP) or the venue's (BTCUSDT).")
]
VenueOpt = Annotated[str, typer.Option("--venue", help="Venue of the symbol.")]
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
) -> tuple[pl.DataFrame, list[str]]:
    """The panel of ``symbol`` on ``venue`` over ``[start, end)`` and notes on what was substituted."""
    try:
        every_ms = interval_ms(every)
        hi = parse_time_ms(end) if end else None
        lo = parse_time_ms(start) if start else None
    except ValueError as e:
        raise fail(str(e)) from e
    try:
        return panel_of(lk, venue, symbol, lo, hi, every_ms)
    except StoreInputError as e:
        raise fail(str(e)) from e


def write_frame(df: pl.DataFrame, fmt: str, out: Path | None) -> None:
    """``df`` as json (records), csv or parquet, to ``out`` or standard output."""
    if fmt == "parquet":
        if out is None:
            raise fail("--format parquet needs --out FILE")
        df.write_parquet(out)
    elif fmt == "csv":
        text = df.write_csv()
        out.write_text(text) if out else typer.echo(text, nl=False)
    else:
        text = json.dumps(
            df.with_columns(pl.col(pl.Datetime).dt.to_string("%Y-%m-%dT%H:%M:%SZ")).to_dicts(), default=str
        )
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
    panel, notes = load_panel(lake(ctx), venue, symbol, start, end, every)
    for n in notes:
        err_console().print(f"[dim]note: {n}[/]")
    if fmt != "table":
        write_frame(panel, fmt, out)
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
    t = Table(title=f"{symbol} on {venue}: metrics per {every} bar (latest {rows})", header_style="bold")
    t.add_column("bar (UTC)", no_wrap=True)
    for c in cols:
        t.add_column(c, justify="right")
    for r in panel.tail(rows).iter_rows(named=True):
        t.add_row(str(r["ts_ms"])[:16], *[_cell(r[c]) for c in cols])
    console().print(t)


def _cell(x: object) -> str:
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.4g}" if abs(x) < 1e6 else f"{x:,.0f}"
    return str(x)
