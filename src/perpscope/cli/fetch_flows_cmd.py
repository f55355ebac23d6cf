"""``perpscope fetch-flows``: stablecoin supply (DefiLlama) and CFTC TFF positioning (CME Bitcoin) from
their free public APIs into the store (:func:`perpscope.ingest.flows_fetch.fetch_flows`)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from perpscope.cli.common import console, fail, lake
from perpscope.core.errors import PerpscopeError
from perpscope.ingest.flows_fetch import fetch_flows
from perpscope.venues.flows.cftc import BASE_URL as CFTC_URL
from perpscope.venues.flows.defillama import BASE_URL as LLAMA_URL


def fetch_flows_cmd(
    ctx: typer.Context,
    stablecoins: Annotated[
        str, typer.Option("--stablecoins", help="Coins, comma-separated (USDT, USDC).")
    ] = "USDT,USDC",
    cftc: Annotated[
        str, typer.Option("--cftc", help="CFTC contract market codes, comma-separated (133741: CME Bitcoin).")
    ] = "133741",
    since: Annotated[
        str | None, typer.Option("--since", help="CFTC reports as of this day on (YYYY-MM-DD).")
    ] = None,
    defillama_url: Annotated[
        str, typer.Option("--defillama-url", help="DefiLlama stablecoins API.")
    ] = LLAMA_URL,
    cftc_url: Annotated[str, typer.Option("--cftc-url", help="CFTC public reporting API.")] = CFTC_URL,
) -> None:
    """Fetch stablecoin supply (DefiLlama) and CFTC positioning (CME Bitcoin) from their public APIs."""
    coins = [c.strip() for c in stablecoins.split(",") if c.strip()]
    codes = [c.strip() for c in cftc.split(",") if c.strip()]
    try:
        rep = asyncio.run(
            fetch_flows(
                lake(ctx),
                stablecoins=coins,
                cftc_codes=codes,
                since=since,
                defillama_url=defillama_url,
                cftc_url=cftc_url,
            )
        )
    except PerpscopeError as exc:
        raise fail(str(exc)) from None
    for name, (got, added) in rep.series.items():
        console().print(f"{name}: {got:,} rows fetched, {added:,} new")
