"""``perpscope regimes SYMBOL``: the regime timeline of one perp, its current reading with the evidence,
the treadmill cycles and the circuit breakers (definitions: docs/regimes.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from perpscope.assemble.flows import panel_flow_inputs
from perpscope.cli.batch import run_batch
from perpscope.cli.common import console, reading_lake
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
from perpscope.cli.output import print_provenance, write_frame
from perpscope.cli.regime_tables import regime_tables
from perpscope.regimes import RegimeConfig, circuit_breakers, classify, episodes, reading, treadmill

#: History read before ``--from`` for the regime engine's look-back windows: its longest horizon plus
#: the liquidation-burst baseline (the event benchmark reads the same, benchmarks/regime_events.py).
REGIME_WARM_MS = RegimeConfig().long_window_ms + RegimeConfig().burst_baseline_ms

WHAT = ("episodes", "bars", "treadmill", "breakers", "reading")


def regimes(
    ctx: typer.Context,
    symbol: OptionalSymbolArg = None,
    venue: VenueOpt = "binance",
    start: FromOpt = None,
    end: ToOpt = None,
    every: EveryOpt = "4h",
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    what: Annotated[
        str,
        typer.Option("--what", help="For json/csv/parquet: episodes, bars, treadmill, breakers or reading."),
    ] = "episodes",
    symbols: SymbolsOpt = None,
    cluster: ClusterOpt = None,
) -> None:
    """Regimes of one perp: reading now, timeline of episodes, treadmill cycles, circuit breakers."""
    if symbols is not None:  # a batch over many perps (perpscope.cluster), written into the store
        return run_batch(ctx, reading_lake(ctx), "regimes", symbols, cluster, venue, start, end, every)
    symbol = one_symbol(symbol, cluster)
    check_choice("--format", fmt, FORMATS)
    check_choice("--what", what, WHAT)
    lk = reading_lake(ctx)
    # the horizons (up to 3 days) and the burst baseline (30 days) look back: read that much before the
    # range, so its first day is labelled from real history rather than "insufficient_data"
    mp = load_panel(lk, venue, symbol, start, end, every, warm_ms=REGIME_WARM_MS)
    panel = mp.priced  # a bar without a price has no regime (not "neutral")
    every_label = classify(panel)
    labels = mp.in_range(every_label)
    # the spot and institutional side (ETF flows, stablecoins, perp/spot volume, CME), as public per bar
    flows = panel_flow_inputs(lk, panel, venue)
    if fmt != "table":
        table = {
            "bars": lambda: labels,
            "episodes": lambda: episodes(labels),
            "treadmill": lambda: treadmill(labels),
            "breakers": lambda: circuit_breakers(panel, labels=every_label, flows=flows),
            "reading": lambda: reading(panel, flows=flows, labels=every_label),
        }[what]()
        if fmt != "json":
            print_provenance(mp, to_stderr=True)
        write_frame(table, fmt, out, mp.provenance_json())
        return
    for t in regime_tables(panel, every_label, flows=flows, from_ms=mp.start_ms):
        console().print(t)
    print_provenance(mp)
