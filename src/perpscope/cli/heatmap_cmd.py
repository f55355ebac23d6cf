"""``perpscope heatmap``: the liquidation heatmap of one symbol from the store, and its calibration.

:data:`app` is the ``heatmap`` group: ``perpscope heatmap SYMBOL`` (= ``heatmap show SYMBOL``) and
``perpscope heatmap calibrate``. Reading the store and running the model is
:func:`perpscope.assemble.heatmap.heatmap_of` (through :func:`perpscope.cli.loading.heatmap_of`, which
adds the CLI's error handling); the realized liquidations a calibration scores against are
:func:`perpscope.assemble.heatmap.realized_liquidations`, resolved like the metrics panel's. Both print
the stored series they read.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from perpscope.assemble import StoreInputError
from perpscope.assemble.heatmap import (
    HEATMAP_MEASURES,
    heatmap_bars,
    heatmap_inputs,
    realized_liquidations,
)
from perpscope.assemble.view import source_lines
from perpscope.cli.common import console, err_console, fail, reading_lake
from perpscope.cli.loading import heatmap_of
from perpscope.cli.output import print_notes, zone_table
from perpscope.core.format import json_safe
from perpscope.core.time import DAY_MS, interval_ms, parse_time_ms
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
from perpscope.report.chart_files import check_chart_path, write_chart


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
        str | None,
        typer.Option(
            "--at", help="Instant of the current map (UTC): the bars closed by then. Default: --to."
        ),
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
    liq_map: Annotated[
        bool,
        typer.Option(
            "--map/--no-map",
            help="Under the heatmap, the liquidation map (current book by price, split by leverage) and "
            "the cumulative USD a move to each price would liquidate.",
        ),
    ] = True,
    fmt: Annotated[
        str, typer.Option("--format", help="table, or json: the hot zones and the inputs' sources.")
    ] = "table",
) -> None:
    """Liquidation heatmap of SYMBOL: hot zones as a table, the chart as HTML."""
    if fmt not in ("table", "json"):
        raise fail(f"--format must be table or json, got {fmt!r}")
    lk = reading_lake(ctx)
    try:
        if out is not None:
            check_chart_path(out)
        when = at or to
        end = parse_time_ms(when) + 1 if when else None
        # --at is an instant: only bars closed by it (the bar that opens at it is the future)
        closed_by = parse_time_ms(at) if at else None
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
        closed_by=closed_by,
    )
    con = console()
    if fmt == "json":
        typer.echo(
            json.dumps(
                json_safe(
                    {
                        "venue": hm.venue,
                        "symbol": hm.symbol,
                        "model": hm.label,
                        "last_bar_ms": hm.last_ms,
                        "price": hm.source.last_close,
                        "zones": hm.zones.to_dicts(),
                        "sources": list(hm.sources),
                    }
                )
            )
        )
        if out is not None:
            write_chart(hm.figure(with_map=liq_map), out)
        return
    con.print(hm.headline)
    con.print(zone_table(hm.zones))
    for line in hm.sources:  # where the model's inputs came from
        con.print(f"[dim]  · {escape(line)}[/]", highlight=False)
    if out is not None:
        try:
            write_chart(hm.figure(with_map=liq_map), out)
        except Exception as e:  # PNG export needs a Chromium for kaleido to drive
            hint = " Write .html instead (works offline)." if out.suffix.lower() == ".png" else ""
            raise fail(f"could not write {out}: {e}.{hint}") from e
        con.print(f"wrote {out}")


def _score_format(score: str) -> Any:
    """USD amounts whole, ratios with two decimals (1.40, not "1"), proportions and correlations three."""
    if " / " in score or "ratio" in score:
        return lambda x: "n/a" if math.isnan(x) else f"{x:.2f}"
    if "USD per" in score:
        return lambda x: "n/a" if math.isnan(x) else f"{x:,.0f}"
    return lambda x: "n/a" if math.isnan(x) else f"{x:.3f}"


def _scores_table(fit: Scores, test: Scores) -> Table:
    t = Table(title="scores (95% Wilson intervals)", header_style="bold")
    for col in ("score", "fit", "test", "test 95% CI", "test n"):
        t.add_column(col, justify="left" if col == "score" else "right")
    ff, tf = fit.frame(), test.frame()
    for a, b in zip(ff.iter_rows(named=True), tf.iter_rows(named=True), strict=True):
        fmt = _score_format(a["score"])
        ci = "" if math.isnan(b["ci_lo"]) else f"{fmt(b['ci_lo'])} – {fmt(b['ci_hi'])}"
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
    liq_venue: Annotated[
        str | None,
        typer.Option(help="Venue scope of the realized liquidations (default: --venue), e.g. all."),
    ] = None,
    liq_symbol: Annotated[
        str | None, typer.Option(help="Symbol of the realized liquidations (default: SYMBOL).")
    ] = None,
    oi_venue: Annotated[
        str | None, typer.Option(help="Venue of the open interest, if not the candles'.")
    ] = None,
    oi_symbol: Annotated[str | None, typer.Option(help="Symbol of the open interest, if not SYMBOL.")] = None,
    model: Annotated[
        str, typer.Option(help="oi-change or trade-flow: which family to calibrate.")
    ] = "oi-change",
    every: Annotated[
        str | None,
        typer.Option(help="Bar length (default: the finest stored); realized liquidations are summed to it."),
    ] = None,
) -> None:
    """Fit the model's parameters on one window, score the choice once on the later one."""
    lk = reading_lake(ctx)
    try:
        f0, f1, t1 = parse_time_ms(fit_from), parse_time_ms(fit_to), parse_time_ms(test_to)
        every_ms = interval_ms(every) if every else None
    except ValueError as e:
        raise fail(str(e)) from e
    try:
        frames, view = heatmap_inputs(lk, venue, symbol, f0, t1, oi_venue, oi_symbol, every_ms)
        bars = heatmap_bars(frames, None)
        realized, liq_view = realized_liquidations(
            lk, liq_venue or venue, liq_symbol or symbol, f0, t1, view.every_ms
        )
    except StoreInputError as e:
        raise fail(str(e)) from e
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
    print_notes(source_lines(view, HEATMAP_MEASURES))
    head, *lines = source_lines(liq_view, ("liquidations",))
    print_notes([f"realized {head}", *(x for x in lines if x.startswith("liquidations"))])


app.command("show")(heatmap)
app.command("calibrate")(calibrate)
