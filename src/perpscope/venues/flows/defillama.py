"""DefiLlama stablecoins API → ``stablecoin_supply`` records.

Endpoint ``GET {base}/stablecoin/{id}`` (``https://stablecoins.llama.fi``; USDT id 1, USDC id 2), the one
the shared data's source read. Its ``tokens`` list holds one entry per day: ``date`` (unix seconds,
00:00 UTC) and ``circulating.peggedUSD`` (tokens across every chain). The last entry of a live answer is
the current, intraday value: it is dropped (the daily history is the record; the shared data's source
dropped it too, SOURCES.md §11).

References
----------
DefiLlama API documentation, https://defillama.com/docs/api ("stablecoins" section).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from perpscope.core.errors import VenueError
from perpscope.records import STABLECOIN_SUPPLY
from perpscope.records.flows import SUPPLY_VENUE
from perpscope.venues.http import JsonClient, TokenBucket

BASE_URL = "https://stablecoins.llama.fi"
#: DefiLlama's ids of the stablecoins perpscope reads.
STABLECOIN_IDS: dict[str, int] = {"USDT": 1, "USDC": 2}
SOURCE = "rest:defillama"
DAY_S = 86_400


def parse_stablecoin(payload: Any, coin: str, source: str = SOURCE) -> pl.DataFrame:
    """A ``/stablecoin/{id}`` answer → ``stablecoin_supply`` rows of ``coin`` (whole UTC days only).

    Raises
    ------
    VenueError
        When the answer has no ``tokens`` list (an error page, another endpoint's answer).
    """
    tokens = payload.get("tokens") if isinstance(payload, dict) else None
    if not isinstance(tokens, list):
        raise VenueError(
            f"defillama: expected a stablecoin answer with a 'tokens' list for {coin}, "
            f"got {str(payload)[:120]!r}"
        )
    days: dict[int, float] = {}
    for t in tokens:
        date, usd = t.get("date"), (t.get("circulating") or {}).get("peggedUSD")
        if date is None or usd is None:
            continue
        s = int(date)
        if s % DAY_S:  # an intraday (current) value, not a day's
            continue
        days[s * 1000] = float(usd)  # a repeated day keeps its last value
    c = coin.upper()
    return STABLECOIN_SUPPLY.conform(
        pl.DataFrame(
            {
                "venue": SUPPLY_VENUE,
                "symbol": c,
                "canonical": f"{c}-USD-SPOT",
                "ts_ms": sorted(days),
                "supply_usd": [days[k] for k in sorted(days)],
                "source": source,
            },
            schema_overrides={"ts_ms": pl.Int64},
        )
    )


class DefiLlamaClient:
    """Stablecoin supply history from DefiLlama (a generous free API: 10 requests a second kept to 1)."""

    def __init__(self, base_url: str = BASE_URL, bucket: TokenBucket | None = None, **http: Any) -> None:
        self.http = JsonClient(base_url, "defillama", bucket or TokenBucket(60, 60.0), **http)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def supply(self, coin: str) -> pl.DataFrame:
        """Daily circulating supply of ``coin`` (``USDT``, ``USDC``) across all chains."""
        c = coin.upper()
        if c not in STABLECOIN_IDS:
            raise VenueError(
                f"defillama: no stablecoin id known for {coin!r}; known: {', '.join(STABLECOIN_IDS)}"
            )
        return parse_stablecoin(await self.http.get(f"/stablecoin/{STABLECOIN_IDS[c]}"), c)
