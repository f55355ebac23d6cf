"""Fetch the flow records that have a free public API into the store: stablecoin supply (DefiLlama) and
CFTC Traders-in-Financial-Futures positioning (the CFTC's public reporting API).

Each series is written whole (idempotent: the store dedupes on the record's key), so running it again
adds only what is new. US spot ETF flows have no public API: import Farside's table as CSV.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from perpscope.records import FUTURES_POSITIONING, STABLECOIN_SUPPLY
from perpscope.store import Lake
from perpscope.venues.flows.cftc import BASE_URL as CFTC_URL
from perpscope.venues.flows.cftc import CftcClient
from perpscope.venues.flows.defillama import BASE_URL as LLAMA_URL
from perpscope.venues.flows.defillama import DefiLlamaClient


@dataclass
class FlowsFetchReport:
    """Rows fetched and newly stored per series (``"stablecoin_supply USDT"`` → (fetched, added))."""

    series: dict[str, tuple[int, int]] = field(default_factory=dict)


async def fetch_flows(
    lake: Lake,
    *,
    stablecoins: Sequence[str] = ("USDT", "USDC"),
    cftc_codes: Sequence[str] = ("133741",),
    since: str | None = None,
    defillama_url: str = LLAMA_URL,
    cftc_url: str = CFTC_URL,
) -> FlowsFetchReport:
    """Fetch each stablecoin's supply history and each CFTC market's TFF reports and store them.

    ``since`` (``YYYY-MM-DD``) limits the CFTC query to reports as of that day onwards; DefiLlama answers
    a coin's whole history in one request.
    """
    report = FlowsFetchReport()
    llama = DefiLlamaClient(defillama_url)
    cftc = CftcClient(cftc_url)
    try:
        for coin in stablecoins:
            df = await llama.supply(coin)
            w = await asyncio.to_thread(lake.write, STABLECOIN_SUPPLY, df)
            report.series[f"stablecoin_supply {coin.upper()}"] = (df.height, w.rows_added)
        for code in cftc_codes:
            df = await cftc.tff(code, since)
            w = await asyncio.to_thread(lake.write, FUTURES_POSITIONING, df)
            report.series[f"futures_positioning {code}"] = (df.height, w.rows_added)
    finally:
        await llama.aclose()
        await cftc.aclose()
    return report
