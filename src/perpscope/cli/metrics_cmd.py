"""``perpscope metrics SYMBOL``: the per-bar metrics panel of one perp from the store.

The panel is :func:`perpscope.assemble.panel.market_panel` (every source, bar length and venue of the
scope, stitched, with its provenance) through :func:`perpscope.cli.loading.load_panel`. Every output
states the provenance: footnotes under the tables, a ``provenance`` object beside the ``rows`` in
``--format json``, notes on standard error for csv/parquet.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from perpscope.cli.common import console, fail, lake
from perpscope.cli.loading import load_panel
from perpscope.cli.options import (
    FORMATS,
    EveryOpt,
    FormatOpt,
    FromOpt,
    OutOpt,
    SymbolArg,
    ToOpt,
    VenueOpt,
)
from perpscope.cli.output import print_provenance, write_frame


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
