"""``perpscope metrics SYMBOL``: the per-bar metrics panel of one perp from the store.

The panel is :func:`perpscope.assemble.panel.market_panel` (every source, bar length and venue of the
scope, stitched, with its provenance) through :func:`perpscope.cli.loading.load_panel`. Every output
states the provenance: footnotes under the tables, a ``provenance`` object beside the ``rows`` in
``--format json``, notes on standard error for csv/parquet.
"""

from __future__ import annotations

from typing import Annotated

import typer

from perpscope.cli.batch import run_batch
from perpscope.cli.common import console, fail, reading_lake
from perpscope.cli.loading import load_panel
from perpscope.cli.options import (
    FORMATS,
    ClusterOpt,
    EveryOpt,
    FormatOpt,
    FromOpt,
    OptionalSymbolArg,
    OutOpt,
    SymbolsOpt,
    ToOpt,
    VenueOpt,
    check_choice,
    one_symbol,
)
from perpscope.cli.output import Column, fitted_table, print_provenance, write_frame
from perpscope.core.format import (
    date_text,
    pct_text,
    price_text,
    rate_text,
    ratio_text,
    signed_text,
    usd_text,
)


def metrics(
    ctx: typer.Context,
    symbol: OptionalSymbolArg = None,
    venue: VenueOpt = "binance",
    start: FromOpt = None,
    end: ToOpt = None,
    every: EveryOpt = "4h",
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    rows: Annotated[int, typer.Option("--rows", help="Bars shown in the table (the latest).")] = 20,
    symbols: SymbolsOpt = None,
    cluster: ClusterOpt = None,
) -> None:
    """Per-bar metrics (price, funding, OI, liquidations, flow) of one perp from the store."""
    if symbols is not None:  # a batch over many perps (perpscope.cluster), written into the store
        return run_batch(ctx, reading_lake(ctx), "metrics", symbols, cluster, venue, start, end, every)
    symbol = one_symbol(symbol, cluster)
    check_choice("--format", fmt, FORMATS)
    mp = load_panel(reading_lake(ctx), venue, symbol, start, end, every)
    panel = mp.panel
    if fmt != "table":
        if fmt != "json":
            print_provenance(mp, to_stderr=True)
        write_frame(panel, fmt, out, mp.provenance_json())
        return
    shown = panel.tail(rows)
    con = console()
    if shown.is_empty():
        raise fail(f"no {every} bars of {mp.view.canonical} between the dates asked")
    t = fitted_table(
        f"{mp.view.canonical} · {mp.view.scope.label}: metrics per {every} bar (latest {shown.height})",
        ("bar (UTC)", [date_text(ms) for ms in shown["ts_ms"].dt.epoch("ms")]),
        # a column without a value in the bars shown takes no width (at scope all the settled rate is
        # empty and the sampled one carries the funding)
        [
            c
            for c in METRIC_COLUMNS
            if c.name in shown.columns and shown.get_column(c.name).is_not_null().any()
        ],
        shown.to_dicts(),
        con.width,
        "every column: --format csv or json",
    )
    con.print(t)
    print_provenance(mp)


def _yes(x: object) -> str:
    return "yes" if x else ""


#: The metrics table's columns, most wanted first (a narrow terminal keeps the first that fit).
METRIC_COLUMNS = (
    Column("close", "close", price_text),
    Column("funding_rate_8h", "funding/8h", rate_text),
    Column("funding_sampled_8h", "sampled/8h", rate_text),  # where nothing settled: scope all, OI-weighted
    Column("oi_usd", "OI", usd_text),
    Column("oi_usd_chg_1d", "OI Δ1d", lambda x: pct_text(x, 1)),
    Column("liq_long_usd", "liq long", usd_text),
    Column("liq_short_usd", "liq short", usd_text),
    Column("volume_usd", "volume", usd_text),
    Column("taker_imbalance", "taker imb.", signed_text),
    Column("perp_spot_ratio", "perp/spot", ratio_text),
    Column("liq_burst", "burst", _yes),
)
