"""``perpscope heatmap``: the liquidation heatmap of one symbol from the store, and its calibration.

:data:`app` is the ``heatmap`` group: ``perpscope heatmap SYMBOL`` (= ``heatmap show SYMBOL``) and
``perpscope heatmap calibrate``. Reading the store and running the model is
:func:`perpscope.assemble.heatmap.heatmap_of`; :func:`heatmap_of` here is the same with the CLI's
error handling and a :class:`HeatmapView` that can print and draw itself (demo, alerts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any

import plotly.graph_objects as go
import polars as pl
import typer
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from perpscope.assemble import StoreInputError
from perpscope.assemble import heatmap as assemble
from perpscope.assemble.heatmap import heatmap_bars, heatmap_frames
from perpscope.cli.common import console, err_console, fail, lake
from perpscope.core.time import DAY_MS, ms_to_iso, parse_time_ms
from perpscope.heatmap import (
    DEFAULT_MODEL,
    DEFAULT_TRADE_FLOW_MODEL,
    ensemble_members,
    with_half_lives,
)
from perpscope.heatmap import (
    calibrate as run_calibration,
)
from perpscope.heatmap.calibration import Scores, describe
from perpscope.heatmap.models import Model
from perpscope.report.heatmap_chart import check_chart_path, heatmap_figure, write_heatmap
from perpscope.store import Lake, read


class _ShowByDefault(TyperGroup):
    """``perpscope heatmap SYMBOL …`` means ``perpscope heatmap show SYMBOL …``; subcommands still work."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # Any: typer vendors click's Context
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["show", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_ShowByDefault,
    help="Liquidation heatmaps: where leveraged positions would be force-closed. "
    "`perpscope heatmap SYMBOL` shows one (same as `heatmap show SYMBOL`).",
    no_args_is_help=True,
)


def _zone_table(zones: pl.DataFrame) -> Table:
    t = Table(header_style="bold")
    band = "usd_p10" in zones.columns
    for col in ("side", "#", "zone (price)", "USD", "distance", *(["p10–p90 USD"] if band else [])):
        t.add_column(col, justify="left" if col in ("side", "zone (price)") else "right")
    for r in zones.iter_rows(named=True):
        row = [
            r["side"],
            str(r["rank"]),
            f"{r['price_lo']:,.2f} – {r['price_hi']:,.2f}",
            f"{r['usd']:,.0f}",
            f"{r['distance_pct']:+.2f}%",
        ]
        if band:
            row.append(f"{r['usd_p10']:,.0f} – {r['usd_p90']:,.0f}")
        t.add_row(*row)
    return t


def heatmap(
    ctx: typer.Context,
    symbol: Annotated[
        str, typer.Argument(help="Symbol, canonical (BTC-USDT-PERP) or the venue's (BTCUSDT).")
    ],
    venue: Annotated[
        str,
        typer.Option(help="Venues: one (binance), several (binance,bybit,okx) or all (OI summed over them)."),
    ] = "binance",
    at: Annotated[
        str | None, typer.Option("--at", help="Instant of the current map (UTC). Default: --to.")
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="First bar (UTC). Default: 30 days before --at.")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="End of the bars (UTC). Default: the last candle.")
    ] = None,
    model: Annotated[str, typer.Option(help="auto, oi-change, trade-flow or ensemble.")] = "auto",
    every: Annotated[
        str | None, typer.Option(help="Bar length (5m, 1h, 4h). Default: the finest stored.")
    ] = None,
    oi_venue: Annotated[
        str | None, typer.Option(help="Venue of the open interest, if not the candles'.")
    ] = None,
    oi_symbol: Annotated[str | None, typer.Option(help="Symbol of the open interest, if not SYMBOL.")] = None,
    zones: Annotated[int, typer.Option("--zones", "-k", help="Hot zones per side.")] = 5,
    width: Annotated[float, typer.Option(help="Zone width, % of price.")] = 0.5,
    out: Annotated[
        Path | None, typer.Option(help="Write the chart: .html (interactive) or .png (needs chromium).")
    ] = None,
) -> None:
    """Liquidation heatmap of SYMBOL: hot zones as a table, the chart as HTML."""
    lk = lake(ctx)
    try:
        if out is not None:
            check_chart_path(out)
        when = at or to
        end = parse_time_ms(when) + 1 if when else None
        start = parse_time_ms(from_) if from_ else None
    except ValueError as e:
        raise fail(str(e)) from e
    hm = heatmap_of(
        lk,
        venue,
        symbol,
        start,
        end,
        model=model,
        every=every,
        oi_venue=oi_venue,
        oi_symbol=oi_symbol,
        zones=zones,
        width=width,
    )
    con = console()
    con.print(hm.headline)
    con.print(_zone_table(hm.zones))
    for line in hm.sources:  # where the model's inputs came from
        con.print(f"[dim]  · {escape(line)}[/]", highlight=False)
    if out is not None:
        try:
            write_heatmap(hm.figure(), out)
        except Exception as e:  # PNG export needs a Chromium for kaleido to drive
            raise fail(f"could not write {out}: {e}. Write .html instead (works offline).") from e
        con.print(f"wrote {out}")


@dataclass(frozen=True)
class HeatmapView(assemble.HeatmapView):
    """:class:`perpscope.assemble.heatmap.HeatmapView` with its terminal headline and chart."""

    @property
    def headline(self) -> str:
        return (
            f"[bold]{self.venue} {self.symbol}[/] hot zones after the bar of {ms_to_iso(self.last_ms)} UTC — "
            f"price {self.source.last_close:,.2f} — {self.label}"
        )

    def figure(self) -> go.Figure:
        return heatmap_figure(
            self.bars, self.source, zones=self.zones, title=f"{self.venue} {self.symbol} — {self.label}"
        )


def heatmap_of(
    lk: Lake, venue: str, symbol: str, start: int | None = None, end: int | None = None, **options: Any
) -> HeatmapView:
    """:func:`perpscope.assemble.heatmap.heatmap_of` (same ``options``: model, every, oi_venue, oi_symbol,
    zones, width); a store that cannot give its inputs exits via :func:`~perpscope.cli.common.fail`."""
    try:
        v = assemble.heatmap_of(lk, venue, symbol, start, end, **options)
    except StoreInputError as e:
        raise fail(str(e)) from e
    return HeatmapView(**{f.name: getattr(v, f.name) for f in fields(v)})


def _scores_table(fit: Scores, test: Scores) -> Table:
    t = Table(title="scores (95% Wilson intervals)", header_style="bold")
    for col in ("score", "fit", "test", "test 95% CI", "test n"):
        t.add_column(col, justify="left" if col == "score" else "right")
    ff, tf = fit.frame(), test.frame()
    for a, b in zip(ff.iter_rows(named=True), tf.iter_rows(named=True), strict=True):
        ci = "" if math.isnan(b["ci_lo"]) else f"{b['ci_lo']:.3f} – {b['ci_hi']:.3f}"
        fmt = (lambda x: f"{x:,.0f}") if "USD per" in a["score"] else (lambda x: f"{x:.3f}")
        t.add_row(a["score"], fmt(a["value"]), fmt(b["value"]), ci, f"{b['n']:,}")
    return t


def calibrate(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="Symbol of the candles.")],
    fit_from: Annotated[str, typer.Option(help="Start of the fit window (UTC).")],
    fit_to: Annotated[str, typer.Option(help="End of the fit window = start of the test window (UTC).")],
    test_to: Annotated[str, typer.Option(help="End of the test window (UTC).")],
    venue: Annotated[
        str,
        typer.Option(help="Venues: one (binance), several (binance,bybit,okx) or all (OI summed over them)."),
    ] = "binance",
    liq_venue: Annotated[str | None, typer.Option(help="Venue of the realized liquidation totals.")] = None,
    liq_symbol: Annotated[str | None, typer.Option(help="Symbol of the realized liquidation totals.")] = None,
    oi_venue: Annotated[
        str | None, typer.Option(help="Venue of the open interest, if not the candles'.")
    ] = None,
    oi_symbol: Annotated[str | None, typer.Option(help="Symbol of the open interest, if not SYMBOL.")] = None,
    model: Annotated[
        str, typer.Option(help="oi-change or trade-flow: which family to calibrate.")
    ] = "oi-change",
    every: Annotated[str | None, typer.Option(help="Bar length; must match the liquidation totals'.")] = None,
) -> None:
    """Fit the model's parameters on one window, score the choice once on the later one."""
    lk = lake(ctx)
    try:
        f0, f1, t1 = parse_time_ms(fit_from), parse_time_ms(fit_to), parse_time_ms(test_to)
    except ValueError as e:
        raise fail(str(e)) from e
    try:
        bars = heatmap_bars(heatmap_frames(lk, venue, symbol, f0, t1, oi_venue, oi_symbol), every)
    except StoreInputError as e:
        raise fail(str(e)) from e
    realized = read(
        lk,
        "liquidation_totals",
        venue=liq_venue or venue,
        symbol=liq_symbol or symbol,
        start_ms=f0,
        end_ms=t1,
    )
    if realized.is_empty():
        raise fail(
            "no liquidation_totals for the realized series in the store; pass --liq-venue/--liq-symbol"
        )
    base: Model = DEFAULT_TRADE_FLOW_MODEL if model == "trade-flow" else DEFAULT_MODEL
    lives = [3 * DAY_MS, 7 * DAY_MS] if model == "trade-flow" else [None, 7 * DAY_MS, 30 * DAY_MS]
    cands = with_half_lives(ensemble_members(base, bars=bars), lives)
    err_console().print(f"scoring {len(cands)} candidates on {bars.height:,} bars …")
    try:
        cal = run_calibration(cands, bars, realized, fit=(f0, f1), test=(f1, t1))
    except ValueError as e:
        raise fail(str(e)) from e
    con = console()
    con.print(f"chosen on the fit window: [bold]{describe(cal.chosen)}[/]")
    con.print(_scores_table(cal.fit, cal.test))


app.command("show")(heatmap)
app.command("calibrate")(calibrate)
