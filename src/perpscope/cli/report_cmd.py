"""``perpscope report SYMBOL --from --to -o report.html``: the dashboard's views of one symbol and range
as one self-contained HTML page (data, script and plotly.js inlined; each chart exports PNG from its
modebar in the browser). The page's data carries the series' provenance; the command prints its
footnotes (the stored series behind every measure) on standard error."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from perpscope.api import ApiError, DataSource, Limits
from perpscope.api.json_response import encode
from perpscope.api.params import check_symbol, check_time, check_venue
from perpscope.api.views import dashboard_view, make_query, market
from perpscope.assemble.cascade import fragility_provider as cascade_provider
from perpscope.assemble.flows import flows_of
from perpscope.cli.common import err_console, fail, reading_lake
from perpscope.cli.output import print_notes
from perpscope.core.time import ms_to_iso
from perpscope.dashboard import report_html


def report(
    ctx: typer.Context,
    symbol: Annotated[
        str, typer.Argument(help="Symbol, canonical (BTC-USDT-PERP) or the venue's (BTCUSDT).")
    ],
    from_: Annotated[
        str | None,
        typer.Option("--from", help="Start (UTC date/datetime or ms). Default: 30 days before --to."),
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="End, exclusive (UTC). Default: after the last candle.")
    ] = None,
    venue: Annotated[
        str, typer.Option(help="Venues: one (binance) or all (OI and liquidations summed over them).")
    ] = "binance",
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="File to write (default: report.html; with --format json: stdout)."),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="html (the page) or json (its data: the /api/v1/dashboard answer, provenance in).",
        ),
    ] = "html",
    max_points: Annotated[
        int, typer.Option(help="Bars per series at most (server-side downsampling).")
    ] = 1_500,
) -> None:
    """Write a self-contained HTML report of SYMBOL: price with the liquidation heatmap, OI, funding,
    liquidations, ratios, regimes, hot zones and the cascade curve (each chart: PNG export button)."""
    if fmt not in ("html", "json"):
        raise fail(f"--format must be html or json, got {fmt!r}")
    src = DataSource(reading_lake(ctx))
    limits = Limits()
    try:
        q = make_query(
            src,
            check_venue(venue),
            check_symbol(symbol),
            check_time(from_, "--from"),
            check_time(to, "--to"),
            limits,
            max_points,
        )
        data = dashboard_view(src, q, limits, cascade_provider(src.lake.root))
        notes = market(src, q)[0].notes  # cached by the view above: the page's provenance
    except ApiError as e:
        raise fail(e.message) from None
    if fmt == "json" and out is None:  # the same bytes the API answers (numpy-aware, NaN as null)
        typer.echo(encode(data).decode())
        print_notes(notes, to_stderr=True)
        return
    out = out or Path("report.html")
    doc = encode(data) if fmt == "json" else None
    title = f"perpscope — {q.venue} {q.canonical}, {ms_to_iso(q.start_ms)} → {ms_to_iso(q.end_ms)} UTC"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")  # written whole, then renamed: no half file under the name
    if doc is not None:
        tmp.write_bytes(doc)
    else:
        tmp.write_text(
            report_html(data, title, flows_of(src.lake, q.canonical, q.start_ms, q.end_ms)), encoding="utf-8"
        )
    tmp.replace(out)
    if doc is not None:
        err_console().print(f"wrote [bold]{out}[/] ({len(doc) / 1e6:.1f} MB)")
        print_notes(notes, to_stderr=True)
        return
    hidden = [k for k in ("heatmap", "regimes", "cascade") if not data[k].get("available")]
    err_console().print(
        f"wrote [bold]{out}[/] ({out.stat().st_size / 1e6:.1f} MB, {data['series']['rows']:,} bars of "
        f"{data['series']['every']})" + (f"; not shown: {', '.join(hidden)}" if hidden else "")
    )
    print_notes(notes, to_stderr=True)
