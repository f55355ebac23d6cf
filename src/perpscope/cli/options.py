"""Options several commands share (symbol, venue scope, range, bar length, output format), so each
command module declares them the same way without importing another command module."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from perpscope.cli.common import fail

#: Output formats of ``metrics`` and ``regimes``.
FORMATS = ("table", "json", "csv", "parquet")
#: Output formats of the commands that also write a chart (``heatmap``, ``cascade``).
CHART_FORMATS = ("table", "json")

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
OptionalSymbolArg = Annotated[
    str | None,
    typer.Argument(
        help="Perp symbol, canonical (BTC-USDT-PERP) or the venue's (BTCUSDT); omit it with --symbols.",
        show_default=False,
    ),
]
SymbolsOpt = Annotated[
    str | None,
    typer.Option(
        "--symbols",
        help="Batch: every perp named (BTCUSDT,ETHUSDT), matched (*USDT) or all, one task per venue and "
        "symbol; results written into the store (panel/, regimes/, calibration/, studies/).",
        show_default=False,
    ),
]
ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="With --symbols: run on Dask, local[N] (N worker processes) or tcp://host:8786 (a running "
        "scheduler). Default: this process.",
        show_default=False,
    ),
]


def check_choice(flag: str, value: str, allowed: Sequence[str]) -> None:
    """Exit with an error naming ``flag`` and the ``allowed`` values when ``value`` is not one of them."""
    if value not in allowed:
        choices = " or ".join(allowed) if len(allowed) == 2 else f"one of {', '.join(allowed)}"
        raise fail(f"{flag} must be {choices}, got {value!r}")


def one_symbol(symbol: str | None, cluster: str | None) -> str:
    """The SYMBOL of a single run (no ``--symbols``): exits when it is missing or ``--cluster`` is given,
    since only a batch runs on a cluster."""
    if symbol is None or cluster is not None:
        raise fail("name a SYMBOL, or --symbols for a batch (--cluster runs a batch on Dask)")
    return symbol
