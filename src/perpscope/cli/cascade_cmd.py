"""``perpscope cascade SYMBOL --shock -3%``: how far a shock goes through the leverage in the store.

The state is the heatmap ensemble's inferred positions over the 30 days before ``--at`` (or a user's
``--positions`` CSV); liquidity is the latest stored ``book_depth`` snapshot when there is one within a
day, otherwise the square-root impact law fitted on the last 7 days of bars (with Y = 1 assumed when
the bars carry no taker-buy volume to fit it). :func:`fragility_for_demo`
gives the demo its fragility table and figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import plotly.graph_objects as go
import polars as pl
import typer
from rich.table import Table

from perpscope.cascade import (
    CascadeConfig,
    CascadeInputError,
    ImpactCurve,
    Liquidity,
    PositionBook,
    book_from_table,
    curve_from_depth,
    ensemble_books,
    fit_sqrt_impact,
    fragility,
    parse_shock,
    simulate,
)
from perpscope.cascade.liquidity import sqrt_impact_prior
from perpscope.cascade.replay import impact_spread
from perpscope.cli.common import console, err_console, fail, lake
from perpscope.cli.heatmap_cmd import _bars, _frames, _pick
from perpscope.core.time import DAY_MS, ms_to_iso, parse_time_ms
from perpscope.report.cascade_chart import cascade_figure, fragility_figure
from perpscope.report.format import pct_text, usd_text
from perpscope.report.heatmap_chart import write_heatmap
from perpscope.store import Lake, read


@dataclass(frozen=True)
class CascadeState:
    """What a cascade starts from: books, price, liquidity, and a line saying where they came from."""

    books: list[PositionBook]
    price: float
    liquidity: Liquidity
    end_ms: int
    note: str


def cascade_state(
    lk: Lake,
    venue: str,
    symbol: str,
    end: int | None = None,
    *,
    every: str | None = None,
    positions: Path | None = None,
) -> CascadeState:
    """Books (heatmap ensemble, or ``positions``), last close and liquidity of a symbol before ``end``."""
    if end is None:
        c = read(lk, "candles", venue=venue, symbol=symbol)
        if c.is_empty():
            raise fail(f"no candles for {venue} {symbol} in the store at {lk.root}")
        end = int(c.get_column("ts_ms").dt.epoch("ms").max()) + 1  # type: ignore[arg-type]
    bars = _bars(_frames(lk, venue, symbol, end - 30 * DAY_MS, end, None, None), every)
    ts = pl.col("ts_ms").dt.epoch("ms")
    bars = bars.filter(ts + pl.col("interval_ms") <= end) if bars.height > 1 else bars
    price = float(bars["close"][-1])
    try:
        if positions is not None:
            books = [book_from_table(pl.read_csv(positions), ts_ms=end - 1, label=positions.name)]
        else:
            chosen = _pick("ensemble", bars)
            books, price = ensemble_books(bars, members=chosen if isinstance(chosen, list) else [chosen])
        recent = bars.filter(ts >= end - 7 * DAY_MS)
        try:
            depth = read(lk, "book_depth", venue=venue, symbol=symbol, start_ms=end - DAY_MS, end_ms=end)
        except Exception:  # the store holds no depth for this symbol
            depth = pl.DataFrame()
        if depth.height:
            liq = Liquidity(curve_from_depth(depth, "bid"), curve_from_depth(depth, "ask"))
        else:
            try:
                fit = fit_sqrt_impact(recent)
                liq = Liquidity(fit.curve(), fit.curve(), impact_spread(recent))
            except CascadeInputError:  # no taker flow to fit Y: assume Y = 1, spread depth wider
                fit = sqrt_impact_prior(recent)
                law = fit.curve()
                law = ImpactCurve(law.move, law.cum_usd, law.source + " (assumed, no taker flow to fit)")
                liq = Liquidity(law, law, 0.7)
    except CascadeInputError as e:
        raise fail(str(e)) from e
    note = (
        f"{len(books)} book(s): {books[0].label}{' …' if len(books) > 1 else ''}; "
        f"liquidity: {liq.bid.source} (depth log-sd {liq.depth_log_sd:.2f})"
    )
    return CascadeState(books, price, liq, end, note)


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
            if "USD" in name:
                return usd_text(x)
            return f"{x:,.2f}" if name == "branching ratio" else f"{x:,.0f}"

        t.add_row(name, fmt(r["p10"]), fmt(r["p50"]), fmt(r["p90"]))
    return t


def fragility_table(f: pl.DataFrame) -> Table:
    """The fragility curve as rows: shock → liquidated USD (median, p10–p90) and final move."""
    t = Table(title="fragility: cascade size by shock size", header_style="bold")
    for col in ("shock", "liquidated (median)", "p10–p90", "final move", "×shock"):
        t.add_column(col, justify="right")
    for r in f.iter_rows(named=True):
        t.add_row(
            f"{r['shock_pct']:+.1f}%",
            usd_text(r["liq_usd_p50"]),
            f"{usd_text(r['liq_usd_p10'])}–{usd_text(r['liq_usd_p90'])}",
            f"{r['final_move_pct_p50']:+.2f}%",
            f"{r['amplification_p50']:.2f}",
        )
    return t


def cascade(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Symbol, canonical (BTC-USDT-PERP) or the venue's.")],
    shock: Annotated[
        str, typer.Option(help="Initial push: a move (-3%, +2%) or a market order in USD (-250M, +1B).")
    ] = "-3%",
    at: Annotated[
        str | None, typer.Option("--at", help="State at this instant (UTC). Default: last bar.")
    ] = None,
    paths: Annotated[int, typer.Option(help="Monte Carlo paths.")] = 1000,
    venue: Annotated[str, typer.Option(help="Venue of the candles.")] = "binance",
    every: Annotated[str | None, typer.Option(help="Bar length (5m, 1h, 4h). Default: finest.")] = None,
    positions: Annotated[
        Path | None,
        typer.Option(help="CSV of positions (side, entry, qty_base|notional_usd, leverage|margin_usd)."),
    ] = None,
    insurance_usd: Annotated[
        float, typer.Option(help="Insurance fund for this market, USD (default: unlimited, no ADL).")
    ] = math.inf,
    seed: Annotated[int, typer.Option(help="Seed of the Monte Carlo draws.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Chart (.html). Default: cascade-SYMBOL.html.")] = None,
) -> None:
    """Simulate the liquidation cascade a shock sets off, with its uncertainty, and the fragility curve."""
    lk = lake(ctx)
    try:
        sh = parse_shock(shock)
        end = parse_time_ms(at) + 1 if at else None
    except (ValueError, CascadeInputError) as e:
        raise fail(str(e)) from e
    if paths < 1:
        raise fail(f"--paths must be at least 1, got {paths}")
    st = cascade_state(lk, venue, symbol, end, every=every, positions=positions)
    cfg = CascadeConfig(paths=paths, insurance_usd=insurance_usd, seed=seed)
    res = simulate(st.books, st.price, sh, st.liquidity, cfg)
    frag = fragility(st.books, st.price, st.liquidity, CascadeConfig(paths=min(paths, 500), seed=seed))
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
    path = out or Path(f"cascade-{symbol}.html")
    write_heatmap(cascade_figure(res, frag, title=f"{venue} {symbol}: {sh.label()} shock"), path)
    err_console().print(f"wrote {path}")


def fragility_for_demo(lk: Lake, venue: str = "binance", symbol: str = "BTC-USDT-PERP",
                       paths: int = 300) -> tuple[pl.DataFrame, go.Figure]:  # fmt: skip
    """Fragility curve of ``symbol``'s current state in the store: the table and its figure.

    For ``perpscope demo``: print ``fragility_table(table)``, add the figure to the report.
    """
    st = cascade_state(lk, venue, symbol)
    frag = fragility(st.books, st.price, st.liquidity, CascadeConfig(paths=paths))
    title = f"{venue} {symbol} fragility at {ms_to_iso(st.end_ms - 1)} UTC (price {st.price:,.2f})"
    return frag, fragility_figure(frag, title)
