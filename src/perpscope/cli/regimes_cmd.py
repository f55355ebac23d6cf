"""``perpscope regimes SYMBOL``: the regime timeline of one perp, its current reading with the evidence,
the treadmill cycles and the circuit breakers (definitions: docs/regimes.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from perpscope.assemble.regime_reading import REGIME_WARM_MS, read_regimes
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
    # range, so its first day is labelled from real history rather than "insufficient_data"; the reading
    # (assemble/regime_reading, the one every front end uses) adds the coin's flows
    mp = load_panel(lk, venue, symbol, start, end, every, warm_ms=REGIME_WARM_MS)
    rr = read_regimes(lk, mp, venue)
    if fmt != "table":
        table = {
            "bars": rr.bars,
            "episodes": rr.episodes,
            "treadmill": rr.treadmill,
            "breakers": rr.breakers,
            "reading": rr.now,
        }[what]()
        if fmt != "json":
            print_provenance(mp, to_stderr=True)
        write_frame(table, fmt, out, mp.provenance_json())
        return
    for t in regime_tables(rr):
        console().print(t)
    print_provenance(mp)
