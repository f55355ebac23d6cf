"""``perpscope flows SYMBOL``: the other side of the ledger beside the perp — US spot ETF flows, stablecoin
supply, CME positioning, perp/spot volume and spot taker imbalance, per bar, aligned with the price.

The view is :func:`perpscope.assemble.flows.flows_view`: every value is the last one public by its bar's
end. Below the table, the flow evidence at the range's end (what the regimes' spot-led breaker reads),
with the inputs that were missing or stale.
"""

from __future__ import annotations

from typing import Annotated

import typer

from perpscope.assemble.errors import StoreInputError
from perpscope.assemble.flows import flows_view
from perpscope.cli.common import console, err_console, fail, reading_lake
from perpscope.cli.options import FORMATS, FormatOpt, FromOpt, OutOpt, ToOpt, check_choice
from perpscope.cli.output import Column, fitted_table, write_frame
from perpscope.core.format import date_text, num_text, pct_text, price_text, ratio_text, signed_text, usd_text
from perpscope.core.time import interval_ms, parse_time_ms


def _btc(x: object) -> str:
    return "–" if x is None else f"{num_text(float(x))} BTC"  # type: ignore[arg-type]


def _flow(x: object) -> str:
    if x is None:
        return "–"
    v = float(x)  # type: ignore[arg-type]
    return usd_text(v) if v < 0 else f"+{usd_text(v)}"


def _yes(x: object) -> str:
    return "yes" if x else ""


#: The table's columns, most wanted first (a narrow terminal keeps the first that fit).
FLOW_COLUMNS = (
    Column("close", "close", price_text),
    Column("etf_flow_usd", "ETF flow", _flow),
    Column("etf_flow_5d_usd", "ETF 5d", _flow),
    Column("stablecoin_7d", "stables 7d", pct_text),
    Column("perp_spot_ratio", "perp/spot", ratio_text),
    Column("cme_lev_net_base", "CME lev net", _btc),
    Column("spot_taker_imbalance", "spot taker", signed_text),
    Column("etf_flow_base", "ETF BTC", _btc),
    Column("stablecoin_30d", "stables 30d", pct_text),
    Column("cme_am_net_base", "CME AM net", _btc),
    Column("cme_basis_trade", "basis trade", _yes),
    Column("structural_imbalance", "spot<0.2", _yes),
    Column("perp_spot_ratio_all", "perp/spot all", ratio_text),
    Column("depth_2pct_usd", "depth ±2%", usd_text),
)


def flows(
    ctx: typer.Context,
    symbol: Annotated[
        str, typer.Argument(help="Coin or perp (BTC, BTCUSDT, BTC-USDT-PERP): its flows are read.")
    ],
    venue: Annotated[
        str, typer.Option("--venue", help="Venue of the same-venue perp/spot ratio and spot taker flow.")
    ] = "binance",
    start: FromOpt = None,
    end: ToOpt = None,
    every: Annotated[str, typer.Option("--every", help="Bar length: 1h, 4h, 1d (default 1d).")] = "1d",
    fmt: FormatOpt = "table",
    out: OutOpt = None,
    rows: Annotated[int, typer.Option("--rows", help="Bars shown in the table (the latest).")] = 20,
) -> None:
    """ETF flows, stablecoin supply, CME positioning and perp/spot volume beside the price, per bar."""
    check_choice("--format", fmt, FORMATS)
    try:
        every_ms = interval_ms(every)
        lo = parse_time_ms(start) if start else None
        hi = parse_time_ms(end) if end else None
    except ValueError as exc:
        raise fail(str(exc)) from None
    if lo is not None and hi is None:
        hi = lo + 180 * 86_400_000
    try:
        view = flows_view(reading_lake(ctx), symbol, lo, hi, every_ms, venue=venue)
    except StoreInputError as exc:
        raise fail(str(exc)) from None
    if fmt == "json":
        write_frame(view.table, fmt, out, {k: v for k, v in view.to_json().items() if k != "rows"})
        return
    if fmt != "table":
        for n in view.notes:
            err_console().print(f"note: {n}")
        write_frame(view.table, fmt, out)
        return
    shown = view.table.tail(rows)
    con = console()
    t = fitted_table(
        f"{view.coin} flows per {every} bar (latest {shown.height}); price: {view.price_label}",
        ("bar (UTC)", [date_text(ms, minutes=every_ms < 86_400_000) for ms in shown["ts_ms"].dt.epoch("ms")]),
        [c for c in FLOW_COLUMNS if shown.get_column(c.name).is_not_null().any()],
        shown.to_dicts(),
        con.width,
        "every column: --format csv or json",
    )
    con.print(t)
    con.print(
        f"[bold]flow evidence at {date_text(view.evidence.t_ms)}:[/] {view.evidence.text()}", soft_wrap=False
    )
    for k, v in view.sources.items():
        con.print(f"[dim]{k}: {v}[/]")
    for n in view.notes:
        con.print(f"[dim]note: {n}[/]")
