"""Hyperliquid info-endpoint client: funding history and candles for backfill, asset contexts for polls.

Hyperliquid's ``/info`` answers ``POST`` requests with a JSON body; they go through
:meth:`~perpscope.venues.http.JsonClient.post` (rate budget, ``Retry-After`` on 429, bounded retries —
the same rules as every venue's GETs).

Paging: funding history by ``startTime`` (at most 500 rows per answer; the next page starts after the
last row, like Binance's funding); candles as windows of 5,000 bars (Hyperliquid's maximum, and all the
history it keeps per interval).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import polars as pl

from perpscope.records.derivatives import FUNDING, OPEN_INTEREST
from perpscope.records.market import CANDLES
from perpscope.venues.feeds import Capabilities, HistorySpec, LiveSpec, Page
from perpscope.venues.http import JsonClient, TokenBucket
from perpscope.venues.hyperliquid import wire
from perpscope.venues.payloads import WireError

API_URL = "https://api.hyperliquid.xyz"
#: info request weight (Hyperliquid: 1,200 weight per minute per IP; most info requests weigh 20)
INFO_WEIGHT = 20
_CANDLE_PERIODS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d", "3d", "1w")

HISTORY: dict[str, HistorySpec] = {
    "klines": HistorySpec(
        "klines",
        CANDLES,
        "/info candleSnapshot",
        5000,
        INFO_WEIGHT,
        periods=_CANDLE_PERIODS,
        default_period="1h",
        archive="Hyperliquid serves the latest 5,000 candles per interval only",
    ),
    "funding": HistorySpec("funding", FUNDING, "/info fundingHistory", 500, INFO_WEIGHT),
}

LIVE: dict[str, LiveSpec] = {
    "funding": LiveSpec("funding", FUNDING, "poll", "/info metaAndAssetCtxs", poll_s=60.0),
    "open_interest": LiveSpec("open_interest", OPEN_INTEREST, "poll", "/info metaAndAssetCtxs", poll_s=60.0),
}

CAPABILITIES = Capabilities(
    venue="hyperliquid",
    rest_budget=(1200.0, 60.0),
    history=HISTORY,
    live=LIVE,
    liquidations_complete=False,
    liquidation_note="not collected: the public API has no market-wide liquidation stream "
    "(liquidations are on chain; the public websocket serves per-wallet fills only)",
    ws_limits="no websocket used: funding, open interest and mark prices are polled from /info",
)


class HyperliquidClient:
    """Async Hyperliquid info client for history pages and asset-context snapshots.

    Parameters
    ----------
    base_url : str
        API root (tests: a loopback server); requests go to ``base_url + "/info"``.
    bucket : TokenBucket, optional
        Shared rate budget (default: 1,200 weight per minute).
    clock_ms : callable
        Wall-clock ms used to stamp asset-context snapshots (they carry no time of their own).
    """

    venue = "hyperliquid"
    capabilities = CAPABILITIES

    def __init__(
        self,
        base_url: str = API_URL,
        bucket: TokenBucket | None = None,
        clock_ms: Any = None,
        **http: object,
    ) -> None:
        self.bucket = bucket or TokenBucket(*CAPABILITIES.rest_budget)
        self.http = JsonClient(base_url, "hyperliquid", self.bucket, **http)  # type: ignore[arg-type]
        self.clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._coins: list[str] | None = None

    async def aclose(self) -> None:
        await self.http.aclose()

    async def info(self, body: Mapping[str, Any]) -> Any:
        return await self.http.post("/info", dict(body), weight=INFO_WEIGHT)

    async def coin(self, symbol: str) -> str:
        """The venue's spelling of ``symbol``'s coin (checked against ``meta``, fetched once)."""
        if self._coins is None:
            meta = await self.info({"type": "meta"})
            try:
                self._coins = [str(u["name"]) for u in meta["universe"]]
            except (KeyError, TypeError) as exc:
                raise WireError(f"meta: expected a 'universe' list, got {str(meta)[:120]!r}") from exc
        return wire.coin_of(symbol, self._coins)

    # -- snapshots ---------------------------------------------------------------------------------
    async def asset_contexts(self) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
        """``(receipt ms, [(coin, ctx), ...])`` from ``metaAndAssetCtxs``."""
        obj = await self.info({"type": "metaAndAssetCtxs"})
        return self.clock_ms(), wire.parse_meta_and_ctxs(obj)

    # -- history -----------------------------------------------------------------------------------
    async def page(
        self, stream: str, symbol: str, start_ms: int, end_ms: int, period: str | None = None
    ) -> Page:
        """One page of ``stream`` for ``symbol`` from ``start_ms`` up to ``end_ms`` (exclusive)."""
        spec = HISTORY[stream]
        coin = await self.coin(symbol)
        if stream == "funding":
            body = {"type": "fundingHistory", "coin": coin, "startTime": start_ms, "endTime": end_ms - 1}
            rows = await self.info(body)
            df = wire.parse_funding_history(rows, coin)
            if df.height == 0:
                return Page({FUNDING: df}, None, 0)
            nxt = spec.after_last(max(int(r["time"]) for r in rows), len(rows), end_ms)  # raw instants
            return Page({FUNDING: df}, nxt, df.height)
        step, window_end, nxt = spec.page_bounds(start_ms, end_ms, period)
        p = period or spec.default_period
        body = {
            "type": "candleSnapshot",
            "req": {"coin": coin, "interval": p, "startTime": start_ms, "endTime": window_end},
        }
        df = wire.parse_candles(await self.info(body), coin, step)
        df = df.filter(pl.col("ts_ms").dt.epoch("ms").is_between(start_ms, window_end))
        return Page({CANDLES: df}, nxt, df.height)
