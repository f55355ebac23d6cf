"""``perpscope regimes SYMBOL``: the regime timeline of one perp, its current reading with the evidence,
the treadmill cycles and the circuit breakers (definitions: docs/regimes.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from perpscope.cli.common import console, fail, reading_lake
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
from perpscope.cli.regime_tables import regime_tables
from perpscope.regimes import circuit_breakers, classify, episodes, reading, treadmill

WHAT = ("episodes", "bars", "treadmill", "breakers", "reading")


def regimes(
    ctx: typer.Context,
    symbol: SymbolArg,
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
) -> None:
    """Regimes of one perp: reading now, timeline of episodes, treadmill cycles, circuit breakers."""
    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if what not in WHAT:
        raise fail(f"--what must be one of {', '.join(WHAT)}, got {what!r}")
    mp = load_panel(reading_lake(ctx), venue, symbol, start, end, every)
    panel = mp.priced  # a bar without a price has no regime (not "neutral")
    labels = classify(panel)
    if fmt != "table":
        table = {
            "bars": lambda: labels,
            "episodes": lambda: episodes(labels),
            "treadmill": lambda: treadmill(labels),
            "breakers": lambda: circuit_breakers(panel),
            "reading": lambda: reading(panel),
        }[what]()
        if fmt != "json":
            print_provenance(mp, to_stderr=True)
        write_frame(table, fmt, out, mp.provenance_json())
        return
    for t in regime_tables(panel, labels):
        console().print(t)
    print_provenance(mp)
