"""``perpscope metrics SYMBOL``: the per-bar metrics panel of one perp from the store.

:func:`load_panel` is shared with ``perpscope regimes``: it reads every record of the symbol, falls back
to the venue's per-coin aggregate (``BASE-AGG-PERP``, e.g. CoinGlass exports) for records the pair lacks,
and builds the panel with a look-back before ``--from`` so windowed metrics are warm.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich.table import Table

from perpscope.cli.common import console, err_console, fail, lake
from perpscope.core.time import DAY_MS, interval_ms, parse_time_ms
from perpscope.metrics import build_panel
from perpscope.store import Lake, read

RECORDS = (
    "candles",
    "funding",
    "open_interest",
    "liquidations",
    "liquidation_totals",
    "taker_volume",
    "long_short_ratios",
)
FORMATS = ("table", "json", "csv", "parquet")
LOOKBACK_MS = 30 * DAY_MS  # the panel's longest look-back (funding extremes, bursts): 30 days

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
    every_ms = interval_ms(every)
    frames: dict[str, pl.DataFrame] = {}
    notes: list[str] = []
    hi = parse_time_ms(end) if end else None
    candles = read(lk, "candles", venue=venue, symbol=symbol, end_ms=hi)
    if candles.is_empty():
        raise fail(
            f"no candles for {symbol} on {venue} in the store; "
            "import some (perpscope import) or check the name"
        )
    canon = str(candles["canonical"][0])
    if hi is None:
        hi = int(candles["ts_ms"].dt.epoch("ms").max()) + every_ms  # type: ignore[arg-type]
    lo = parse_time_ms(start) if start else hi - 30 * DAY_MS
    base = canon.split("-")[0]
    for rec in RECORDS:
        f = read(lk, rec, venue=venue, symbol=canon, start_ms=lo - LOOKBACK_MS, end_ms=hi)
        if f.is_empty() and rec != "candles":
            f = read(lk, rec, venue=venue, symbol=f"{base}-AGG-PERP", start_ms=lo - LOOKBACK_MS, end_ms=hi)
            if f.height:
                notes.append(f"{rec}: {venue} {base}-AGG-PERP (all {base} contracts) used for {canon}")
                f = f.with_columns(pl.lit(canon).alias("canonical"))
        if rec in ("candles", "taker_volume"):
            spot = read(
                lk,
                rec,
                venue=venue,
                symbol=canon.replace("-PERP", "-SPOT"),
                market="spot",
                start_ms=lo - LOOKBACK_MS,
                end_ms=hi,
            )
            f = pl.concat([f, spot], how="vertical_relaxed") if spot.height else f
        if f.height:
            frames[rec] = f
    try:
        panel = build_panel(
            every_ms,
            candles=frames.get("candles"),
            funding=frames.get("funding"),
            open_interest=frames.get("open_interest"),
            liquidations=frames.get("liquidations"),
            liquidation_totals=frames.get("liquidation_totals"),
            taker_volume=frames.get("taker_volume"),
            long_short_ratios=frames.get("long_short_ratios"),
        )
    except ValueError as e:
        raise fail(f"cannot build the panel of {canon} at {every}: {e}") from e
    cut = panel.filter(pl.col("ts_ms").dt.epoch("ms").is_between(lo, hi - 1)).filter(
        pl.col("canonical") == canon
    )
    return cut, notes


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
