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
from perpscope.assemble.calibration import calibrate_on_store
from perpscope.assemble.heatmap import HEATMAP_MEASURES
from perpscope.assemble.heatmap_score import (
    VARIANTS,
    FitTest,
    fit_leverage_mix,
    fit_then_test,
    price_level_scores,
)
from perpscope.assemble.view import source_lines
from perpscope.cli.batch import run_batch
from perpscope.cli.common import console, err_console, fail, reading_lake
from perpscope.cli.loading import heatmap_of
from perpscope.cli.options import CHART_FORMATS, ClusterOpt, SymbolsOpt, check_choice, one_symbol
from perpscope.cli.output import print_notes, zone_table
from perpscope.core.format import MISSING, json_safe, signed_text, usd_text
from perpscope.core.time import interval_ms, ms_to_iso, parse_time_ms
from perpscope.heatmap.calibration import Scores, describe
from perpscope.heatmap.price_level import FIT_TEST_SPLIT_MS, Summary, summarize
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
    check_choice("--format", fmt, CHART_FORMATS)
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
    fit_from: Annotated[str, typer.Option(help="Start of the fit window (UTC).")],
    fit_to: Annotated[str, typer.Option(help="End of the fit window = start of the test window (UTC).")],
    test_to: Annotated[str, typer.Option(help="End of the test window (UTC).")],
    symbol: Annotated[
        str | None,
        typer.Argument(help="Symbol of the candles; omit it with --symbols.", show_default=False),
    ] = None,
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
    symbols: SymbolsOpt = None,
    cluster: ClusterOpt = None,
) -> None:
    """Fit the model's parameters on one window, score the choice once on the later one.

    With --symbols, one calibration per venue and perp, written into the store (calibration/)."""
    lk = reading_lake(ctx)
    if symbols is not None:  # a batch (perpscope.cluster): each perp's own liquidations and OI
        if liq_symbol or oi_symbol:
            raise fail("--liq-symbol and --oi-symbol name one symbol: leave them out with --symbols")
        if "," in venue:
            raise fail("--symbols batches one venue per task: --venue one venue, or all (each apart)")
        try:
            f1 = parse_time_ms(fit_to)
        except ValueError as e:
            raise fail(str(e)) from e
        opts = (("fit_to_ms", f1), ("model", model), ("liq_venue", liq_venue), ("oi_venue", oi_venue))
        return run_batch(ctx, lk, "calibrate", symbols, cluster, venue, fit_from, test_to, every, opts)
    symbol = one_symbol(symbol, cluster)
    try:
        f0, f1, t1 = parse_time_ms(fit_from), parse_time_ms(fit_to), parse_time_ms(test_to)
        every_ms = interval_ms(every) if every else None
    except ValueError as e:
        raise fail(str(e)) from e
    try:
        sc = calibrate_on_store(
            lk,
            venue,
            symbol,
            (f0, f1),
            t1,
            model=model,
            every_ms=every_ms,
            liq_venue=liq_venue,
            liq_symbol=liq_symbol,
            oi_venue=oi_venue,
            oi_symbol=oi_symbol,
        )
    except (StoreInputError, ValueError) as e:
        raise fail(str(e)) from e
    cal, view, liq_view = sc.calibration, sc.view, sc.liq_view
    err_console().print(f"scored {sc.n_candidates} candidates on {sc.n_bars:,} bars")
    con = console()
    con.print(f"chosen on the fit window: [bold]{describe(cal.chosen)}[/]")
    con.print(_scores_table(cal.fit, cal.test))
    print_notes(source_lines(view, HEATMAP_MEASURES))
    head, *lines = source_lines(liq_view, ("liquidations",))
    print_notes([f"realized {head}", *(x for x in lines if x.startswith("liquidations"))])


def _share(x: float) -> str:
    return MISSING if math.isnan(x) else f"{x * 100:.1f}%"


def _tri(x: tuple[float, float, float], fmt: Any) -> str:
    v, lo, hi = x
    return f"{fmt(v)} ({fmt(lo)} – {fmt(hi)})" if not math.isnan(lo) else fmt(v)


def data_table(sums: dict[str, Summary], band_pct: float, n_bands: int = 8) -> Table:
    """The data's own numbers per phase: orders, USD, where in the move they printed, USD per band."""
    t = Table(
        title=f"recorded liquidation orders (bands of {band_pct:g}% from each window's open; model: the "
        "chosen variant's book)"
    )
    t.add_column("", justify="left")
    for ph in sums:
        t.add_column(ph, justify="right")
    rows: list[tuple[str, ...]] = [
        ("windows (symbol × 4 h × side)", *(f"{s.n_windows:,}" for s in sums.values())),
        ("orders", *(f"{s.n_orders:,}" for s in sums.values())),
        ("realized USD", *(usd_text(s.realized_usd) for s in sums.values())),
        ("in the last quarter of the move", *(_share(s.realized_in_last_quarter) for s in sums.values())),
        ("beyond the open (no band)", *(_share(s.realized_beyond_open) for s in sums.values())),
        ("model USD in that last quarter", *(_share(s.model_in_last_quarter) for s in sums.values())),
    ]
    for i in range(n_bands):
        name = f"band {i * band_pct:g}–{(i + 1) * band_pct:g}%: realized / model"  # the chosen variant's
        cells = []
        for s in sums.values():
            real = s.realized_by_band[i] if i < len(s.realized_by_band) else 0.0
            mod = s.model_by_band[i] if i < len(s.model_by_band) else 0.0
            cells.append(f"{_share(real / s.realized_usd)} / {usd_text(mod)}")
        rows.append((name, *cells))
    for row in rows:
        t.add_row(*row)
    return t


def variants_table(ft: FitTest) -> Table:
    """Fit-window scores of every variant, the chosen one first."""
    t = Table(title="fit windows: every variant (chosen: largest zones − controls)")
    for col in ("variant", "zones", "controls", "baseline", "zones − controls", "ρ model", "ρ baseline"):
        t.add_column(col, justify="left" if col == "variant" else "right", overflow="fold")
    for label in sorted(ft.fit, key=lambda x: x != ft.chosen):
        f = ft.fit[label]
        t.add_row(
            f"[bold]{escape(label)}[/]" if label == ft.chosen else escape(label),
            _share(f.zone_share[0]),
            _share(f.control_share[0]),
            _share(f.baseline_share[0]),
            signed_text(f.zone_minus_control[0] * 100, 1) + " pp",
            signed_text(f.spearman_model[0]),
            signed_text(f.spearman_baseline[0]),
        )
    return t


def summary_table(fit: Summary, test: Summary) -> Table:
    """The chosen variant's scores on fit and test windows, 95% bootstrap intervals over days."""
    t = Table(title="the chosen variant: fit, then test once (95% bootstrap over days)")
    for col in ("score", "fit", "test"):
        t.add_column(col, justify="left" if col == "score" else "right")
    corr = lambda x: signed_text(x)  # noqa: E731
    rows = [
        ("share of realized USD in the top-k zones", fit.zone_share, test.zone_share, _share),
        ("  … in distance-matched controls", fit.control_share, test.control_share, _share),
        ("  … in the bar-range baseline's zones", fit.baseline_share, test.baseline_share, _share),
        (
            f"Spearman per band, model (windows: {fit.n_spearman} / {test.n_spearman})",
            fit.spearman_model,
            test.spearman_model,
            corr,
        ),
        ("Spearman per band, bar-range baseline", fit.spearman_baseline, test.spearman_baseline, corr),
    ]
    for name, a, b, fmt in rows:
        t.add_row(name, _tri(a, fmt), _tri(b, fmt))
    t.add_row("zone width cover of the reached range", _share(fit.zone_cover), _share(test.zone_cover))
    return t


def score(
    ctx: typer.Context,
    symbols: Annotated[
        list[str] | None, typer.Argument(help="Symbols (default: BTC ETH SOL XRP DOGE BNB USDT perps).")
    ] = None,
    venue: Annotated[str, typer.Option(help="Venue of the candles and the recorded orders.")] = "binance",
    band: Annotated[float, typer.Option(help="Price band width, % of the window's opening price.")] = 0.25,
    zones: Annotated[int, typer.Option("--zones", "-k", help="Top-k zones per side.")] = 5,
    width: Annotated[float, typer.Option(help="Zone width, % of price.")] = 0.5,
) -> None:
    """Score the map where liquidations printed: recorded orders (price, USD) against the book at each
    4-hour window's open; variants fitted on windows before 2025-02-01, the choice tested once after."""
    lk = reading_lake(ctx)
    syms = symbols or [f"{c}USDT" for c in ("BTC", "ETH", "SOL", "XRP", "DOGE", "BNB")]
    try:
        # the inverse problem: the leverage mix that best explains where the fit windows' orders printed
        fitted = fit_leverage_mix(lk, syms, venue=venue, band_pct=band)
        variants = VARIANTS | {
            "fitted mix": {"mix": fitted},
            "fitted mix, no decay": {"mix": fitted, "half_life_ms": None},
        }
        scores = price_level_scores(
            lk, syms, venue=venue, variants=variants, band_pct=band, k=zones, width_pct=width
        )
        ft = fit_then_test(scores)
    except (StoreInputError, ValueError) as e:
        raise fail(str(e)) from e
    con = console()
    chosen = scores[ft.chosen]
    sums = {ph: summarize(chosen, ph) for ph in ("fit", "test")}
    con.print(data_table(sums, band))
    con.print(variants_table(ft))
    con.print(summary_table(ft.fit[ft.chosen], ft.test))
    mix = ", ".join(f"{lev:g}× {w * 100:.0f}%" for lev, w in zip(*fitted.normalized(), strict=True))
    print_notes(
        [
            f"fitted mix (least squares of realized USD per band on the fit windows): {mix}",
            f"split: fit windows before {ms_to_iso(FIT_TEST_SPLIT_MS)} UTC, test from then on (fixed before "
            "any score was seen)",
            "orders: Binance forceOrder recordings, at most one order per symbol per second (a sample)",
            "bar-range baseline: per band, the window's bars that traded through it (knows the path, not "
            "positions)",
        ]
    )


app.command("show")(heatmap)
app.command("calibrate")(calibrate)
app.command("score")(score)
