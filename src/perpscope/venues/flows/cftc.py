"""CFTC public reporting API (Socrata) → ``futures_positioning`` records.

Dataset ``yw9f-hn96``: Traders in Financial Futures, futures and options combined, one row per market
and report. ``GET {base}/resource/yw9f-hn96.json`` with SoQL parameters (``$where``, ``$order``,
``$limit``, ``$offset``) pages through a market's history; every value is a string. Positions are in
contracts and converted to base units with the market's contract size (CME Bitcoin, code 133741:
5 BTC). Rows are stamped at the report's public release (:func:`perpscope.records.flows.cftc_release_ms`).

References
----------
CFTC, "Public Reporting Environment" (https://publicreporting.cftc.gov), dataset yw9f-hn96; Socrata
SoQL paging (``$limit``/``$offset``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import polars as pl

from perpscope.core.errors import VenueError
from perpscope.records import FUTURES_POSITIONING
from perpscope.records.flows import CME_BTC_CONTRACT_BASE, cftc_release_ms
from perpscope.venues.http import JsonClient, TokenBucket

BASE_URL = "https://publicreporting.cftc.gov"
TFF_PATH = "/resource/yw9f-hn96.json"
SOURCE = "rest:cftc_tff"
#: CFTC contract market code → (venue, coin, contract size in base units).
MARKETS: dict[str, tuple[str, str, float]] = {"133741": ("cme", "BTC", CME_BTC_CONTRACT_BASE)}
#: Dataset column → record field (before × contract size).
COLUMNS: dict[str, str] = {
    "open_interest_all": "oi_base",
    "asset_mgr_positions_long": "am_long_base",
    "asset_mgr_positions_short": "am_short_base",
    "dealer_positions_long_all": "dealer_long_base",
    "dealer_positions_short_all": "dealer_short_base",
    "lev_money_positions_long": "lev_long_base",
    "lev_money_positions_short": "lev_short_base",
    "other_rept_positions_long": "other_long_base",
    "other_rept_positions_short": "other_short_base",
}
PAGE = 1000


def parse_tff(rows: Any, code: str = "133741", source: str = SOURCE) -> pl.DataFrame:
    """Socrata rows of one market → ``futures_positioning`` rows in base units, stamped at release.

    Raises
    ------
    VenueError
        When the answer is not a list of rows, or a row lacks its report date or open interest.
    """
    if code not in MARKETS:
        raise VenueError(f"cftc: unknown contract market code {code!r}; known: {', '.join(MARKETS)}")
    if not isinstance(rows, list):
        raise VenueError(f"cftc: expected a list of report rows, got {str(rows)[:120]!r}")
    venue, coin, size = MARKETS[code]
    out: dict[str, list[Any]] = {"ts_ms": [], **{f: [] for f in COLUMNS.values()}}
    for r in rows:
        day = r.get("report_date_as_yyyy_mm_dd") if isinstance(r, dict) else None
        if not day or r.get("open_interest_all") is None:
            raise VenueError(f"cftc: a report row without its date or open interest: {str(r)[:160]!r}")
        as_of = int(datetime.fromisoformat(day[:10]).replace(tzinfo=UTC).timestamp() * 1000)
        out["ts_ms"].append(cftc_release_ms(as_of))
        for col, f in COLUMNS.items():
            v = r.get(col)
            out[f].append(None if v is None else float(v) * size)
    df = pl.DataFrame(out, schema_overrides={"ts_ms": pl.Int64, **{f: pl.Float64 for f in COLUMNS.values()}})
    df = df.unique("ts_ms", keep="last", maintain_order=True).sort("ts_ms")
    return FUTURES_POSITIONING.conform(
        df.with_columns(
            pl.lit(venue).alias("venue"),
            pl.lit(code).alias("symbol"),
            pl.lit(f"{coin}-AGG-PERP").alias("canonical"),
            pl.lit(source).alias("source"),
        )
    )


class CftcClient:
    """TFF history of a market from the CFTC's Socrata API (no key; kept to one request a second)."""

    def __init__(self, base_url: str = BASE_URL, bucket: TokenBucket | None = None, **http: Any) -> None:
        self.http = JsonClient(base_url, "cftc", bucket or TokenBucket(60, 60.0), **http)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def tff(self, code: str = "133741", since: str | None = None) -> pl.DataFrame:
        """Every report of market ``code`` (as of ``since``, a ``YYYY-MM-DD``, onwards), oldest first."""
        where = f"cftc_contract_market_code='{code}'"
        if since:
            where += f" AND report_date_as_yyyy_mm_dd >= '{since}T00:00:00.000'"
        rows: list[Any] = []
        while True:
            page = await self.http.get(
                TFF_PATH,
                {
                    "$where": where,
                    "$order": "report_date_as_yyyy_mm_dd",
                    "$limit": PAGE,
                    "$offset": len(rows),
                },
            )
            if not isinstance(page, list):
                raise VenueError(f"cftc: expected a list of report rows, got {str(page)[:120]!r}")
            rows.extend(page)
            if len(page) < PAGE:
                break
        return parse_tff(rows, code)
