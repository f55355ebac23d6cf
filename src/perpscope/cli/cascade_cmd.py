"""``perpscope cascade SYMBOL --shock -3%``: how far a shock goes through the leverage in the store.

The state (:func:`perpscope.assemble.cascade.cascade_state`) is the heatmap ensemble's inferred positions
over the 30 days before ``--at`` (or a user's ``--positions`` CSV); liquidity is the latest stored
``book_depth`` snapshot when there is one within a day, otherwise the square-root impact law fitted on the
last 7 days of bars (with Y = 1 assumed when the bars carry no taker-buy volume to fit it).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.table import Table

from perpscope.assemble import StoreInputError
from perpscope.assemble import cascade as assemble
from perpscope.cascade import CascadeConfig, CascadeInputError, fragility, parse_shock, simulate
from perpscope.cli.common import console, err_console, fail, reading_lake
from perpscope.cli.options import CHART_FORMATS, check_choice
from perpscope.cli.output import fragility_table
from perpscope.core.format import json_safe, pct_text, pp_text, usd_text
from perpscope.core.time import ms_to_iso, parse_time_ms
from perpscope.report.cascade_chart import cascade_figure
from perpscope.report.chart_files import check_chart_path, write_chart
from perpscope.store import Lake

#: Kept importable from here; defined in :mod:`perpscope.assemble.cascade`.
CascadeState = assemble.CascadeState


def cascade_state(lk: Lake, venue: str, symbol: str, end: int | None = None, **options: Any) -> CascadeState:
    """:func:`perpscope.assemble.cascade.cascade_state` (same ``options``: every, positions), exiting via
    :func:`fail` when the store cannot give its inputs."""
    try:
        return assemble.cascade_state(lk, venue, symbol, end, **options)
    except StoreInputError as e:
        raise fail(str(e)) from e


def summary_table(s: pl.DataFrame) -> Table:
    """Outcome distribution over Monte Carlo paths (p10, median, p90)."""
    t = Table(title="cascade outcome over Monte Carlo paths", header_style="bold")
    for col in ("measure", "p10", "median", "p90"):
        t.add_column(col, justify="left" if col == "measure" else "right")
    for r in s.iter_rows(named=True):
        name = r["measure"]

        def fmt(x: float, name: str = name) -> str:
            if math.isnan(x):
                return "–"
            if name == "final move":
                return pct_text(x)
            if name == "added by the cascade":
                return pp_text(round(x, 8) + 0.0, 2)
            if "USD" in name:
                return usd_text(x)
            return f"{x:,.2f}" if name == "branching ratio" else f"{x:,.0f}"

        t.add_row(name, fmt(r["p10"]), fmt(r["p50"]), fmt(r["p90"]))
    return t


def cascade(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Symbol, canonical (BTC-USDT-PERP) or the venue's.")],
    shock: Annotated[
        str,
        typer.Option(help="Initial push: a move (-3%, -0.03, +2%) or a USD market order (-250M, +1B)."),
    ] = "-3%",
    at: Annotated[
        str | None, typer.Option("--at", help="State at this instant (UTC). Default: last bar.")
    ] = None,
    paths: Annotated[int, typer.Option(help="Monte Carlo paths.")] = 1000,
    venue: Annotated[
        str,
        typer.Option(help="Venues: one (binance), several (binance,bybit,okx) or all (OI summed over them)."),
    ] = "binance",
    every: Annotated[str | None, typer.Option(help="Bar length (5m, 1h, 4h). Default: finest.")] = None,
    positions: Annotated[
        Path | None,
        typer.Option(help="CSV of positions (side, entry, qty_base|notional_usd, leverage|margin_usd)."),
    ] = None,
    insurance_usd: Annotated[
        float, typer.Option(help="Insurance fund for this market, USD (default: unlimited, no ADL).")
    ] = math.inf,
    seed: Annotated[int, typer.Option(help="Seed of the Monte Carlo draws.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Chart (.html, or .png with chromium). Default: cascade-SYMBOL.html.")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="table, or json: the outcome quantiles and the fragility curve.")
    ] = "table",
) -> None:
    """Simulate the liquidation cascade a shock sets off, with its uncertainty, and the fragility curve."""
    check_choice("--format", fmt, CHART_FORMATS)
    lk = reading_lake(ctx)
    try:
        sh = parse_shock(shock)
        end = parse_time_ms(at) + 1 if at else None
        path = check_chart_path(out or Path(f"cascade-{symbol}.html"))
    except (ValueError, CascadeInputError) as e:
        raise fail(str(e)) from e
    if paths < 1:
        raise fail(f"--paths must be at least 1, got {paths}")
    st = cascade_state(lk, venue, symbol, end, every=every, positions=positions)
    cfg = CascadeConfig(paths=paths, insurance_usd=insurance_usd, seed=seed)
    res = simulate(st.books, st.price, sh, st.liquidity, cfg)
    frag = fragility(st.books, st.price, st.liquidity, CascadeConfig(paths=min(paths, 500), seed=seed))
    if fmt == "json":
        doc = {
            "venue": venue,
            "symbol": symbol,
            "state_end_ms": st.end_ms,
            "price": st.price,
            "shock": sh.label(),
            "paths": paths,
            "books": st.note,
            "open_usd": res.open_usd,
            "outcome": res.summary().to_dicts(),
            "fragility": frag.to_dicts(),
        }
        typer.echo(json.dumps(json_safe(doc)))
        write_chart(cascade_figure(res, frag, title=f"{venue} {symbol}: {sh.label()} shock"), path)
        return
    con = console()
    con.print(
        f"[bold]{venue} {symbol}[/] at {ms_to_iso(st.end_ms - 1)} UTC, price {st.price:,.2f}: "
        f"{sh.label()} shock, {paths:,} paths"
    )
    con.print(f"[dim]{st.note}[/]")
    side = "long" if sh.direction > 0 else "short"
    con.print(f"open {side} notional at risk (mean over books): {usd_text(res.open_usd)}")
    con.print(summary_table(res.summary()))
    con.print(fragility_table(frag))
    write_chart(cascade_figure(res, frag, title=f"{venue} {symbol}: {sh.label()} shock"), path)
    err_console().print(f"wrote {path}")
