"""Bybit v5 REST: history for backfill (funding settlements, open interest, klines), the open-interest
snapshot the live feed polls, and the venue's one :data:`CAPABILITIES` (history and live streams).

Bybit returns each page newest first and at most ``limit`` rows inside ``[startTime, endTime]``, so
pages are requested as windows of exactly ``limit`` periods (funding: ``limit`` hours, the shortest
interval Bybit settles on) and the next page starts where the window ended.

Two reference look-ups complete what the history endpoints leave out: each symbol's funding interval
(``/v5/market/instruments-info``, once per symbol and client) for the first settlement of a page, and
the mark price of the same window (``/v5/market/mark-price-kline``, one request per open-interest page)
to give open interest in both base units and USD.
"""

from __future__ import annotations

import polars as pl

from perpscope.core.time import DAY_MS, HOUR_MS
from perpscope.records.derivatives import FUNDING, LIQUIDATIONS, OPEN_INTEREST
from perpscope.records.market import CANDLES
from perpscope.venues.bybit import wire
from perpscope.venues.feeds import Capabilities, HistorySpec, LiveSpec, Page
from perpscope.venues.http import JsonClient, OncePerKey, TokenBucket

REST_URL = "https://api.bybit.com"
_KLINE = {
    "1m": "1",
    "3m": "3",
    "5m": "5",
    "15m": "15",
    "30m": "30",
    "1h": "60",
    "2h": "120",
    "4h": "240",
    "6h": "360",
    "12h": "720",
    "1d": "D",
    "1w": "W",
}
_OI = {"5m": "5min", "15m": "15min", "30m": "30min", "1h": "1h", "4h": "4h", "1d": "1d"}

HISTORY: dict[str, HistorySpec] = {
    "klines": HistorySpec(
        "klines", CANDLES, "/v5/market/kline", 1000, 1, periods=tuple(_KLINE), default_period="1m"
    ),
    "funding": HistorySpec("funding", FUNDING, "/v5/market/funding/history", 200, 1),
    "open_interest": HistorySpec(
        "open_interest",
        OPEN_INTEREST,
        "/v5/market/open-interest",
        200,
        1,
        periods=tuple(_OI),
        default_period="5m",
    ),
}

LIVE: dict[str, LiveSpec] = {
    "liquidations": LiveSpec("liquidations", LIQUIDATIONS, "stream", "allLiquidation.<symbol>"),
    "open_interest": LiveSpec("open_interest", OPEN_INTEREST, "poll", "/v5/market/tickers", poll_s=60.0),
}

CAPABILITIES = Capabilities(
    venue="bybit",
    rest_budget=(600.0, 5.0),  # 600 requests per 5 s per IP
    history=HISTORY,
    live=LIVE,
    liquidations_complete=True,
    liquidation_note="every liquidation, pushed in 500 ms batches",
    ws_limits="heartbeat {'op': 'ping'} every 20 s; topics per symbol (no all-market topic)",
)


class BybitClient:
    """Async Bybit REST client for history pages (see :class:`~perpscope.ingest.backfill.HistorySource`)."""

    venue = "bybit"
    capabilities = CAPABILITIES

    def __init__(self, base_url: str = REST_URL, bucket: TokenBucket | None = None, **http: object) -> None:
        self.bucket = bucket or TokenBucket(*CAPABILITIES.rest_budget)
        self.http = JsonClient(base_url, "bybit", self.bucket, **http)  # type: ignore[arg-type]
        self._funding_iv: OncePerKey[str, int | None] = OncePerKey()  # symbol → funding interval, ms

    async def aclose(self) -> None:
        await self.http.aclose()

    async def open_interest_now(self, symbol: str) -> pl.DataFrame:
        """Current one-sided open interest and its USD value (``/v5/market/tickers``); Bybit has no OI
        stream, so the live collector polls this."""
        sym = wire.parse_symbol(symbol)
        obj = await self.http.get("/v5/market/tickers", {"category": sym.category, "symbol": sym.symbol})
        return wire.parse_ticker_open_interest(obj)

    async def funding_interval_ms(self, symbol: str) -> int | None:
        """The symbol's funding interval (``fundingInterval`` of instruments-info), fetched once per
        symbol and cached; None when Bybit lists no interval for it."""
        sym = wire.parse_symbol(symbol)

        async def fetch() -> int | None:
            q = {"category": sym.category, "symbol": sym.symbol}
            info = await self.http.get("/v5/market/instruments-info", q)
            return wire.parse_funding_intervals(info).get(sym.symbol)

        return await self._funding_iv.get(sym.symbol, fetch)

    async def page(
        self, stream: str, symbol: str, start_ms: int, end_ms: int, period: str | None = None
    ) -> Page:
        """One window of ``stream`` from ``start_ms`` up to ``end_ms`` (exclusive)."""
        spec = HISTORY[stream]
        step, window_end, nxt = spec.page_bounds(start_ms, end_ms, period, HOUR_MS)  # funding: hours
        sym = wire.parse_symbol(symbol)
        base = {"category": sym.category, "symbol": sym.symbol, "limit": spec.page_limit}
        if stream == "funding":
            obj = await self.http.get(spec.endpoint, base | {"startTime": start_ms, "endTime": window_end})
            df = wire.parse_funding_history(obj, await self.funding_interval_ms(symbol))
            return Page({FUNDING: df}, nxt, df.height)
        p = period or spec.default_period
        assert p is not None
        if stream == "open_interest":
            q = base | {"intervalTime": _OI[p], "startTime": start_ms, "endTime": window_end}
            oi = await self.http.get(spec.endpoint, q)
            marks = await self.http.get(
                "/v5/market/mark-price-kline",
                base | {"interval": _KLINE[p], "start": start_ms, "end": window_end, "limit": 1000},
            )
            df = wire.parse_open_interest(oi, symbol, step, wire.parse_mark_prices(marks))
            return Page({OPEN_INTEREST: df}, nxt, df.height)
        q = base | {"interval": _KLINE[p], "start": start_ms, "end": window_end}
        df = wire.parse_klines(
            await self.http.get(spec.endpoint, q), symbol, step if p != "1w" else 7 * DAY_MS
        )
        return Page({CANDLES: df}, nxt, df.height)
