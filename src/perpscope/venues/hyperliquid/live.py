"""Hyperliquid live feed: funding, open interest and mark prices polled from ``/info metaAndAssetCtxs``.

One request returns every perpetual's context, so the ``funding`` and ``open_interest`` polls share one
snapshot per period (:meth:`HyperliquidLive._snapshot`): at most one request per poll period whatever
the number of symbols and streams. There is no websocket here — Hyperliquid's public socket has no
market-wide liquidation stream — so nothing reconnects and there are no gaps to fill (a missed poll is
simply a missing sample).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import polars as pl

from perpscope.records import FUNDING, OPEN_INTEREST
from perpscope.venues.feeds import NoGapFill, Poll
from perpscope.venues.hyperliquid import wire
from perpscope.venues.hyperliquid.client import CAPABILITIES, LIVE, HyperliquidClient
from perpscope.venues.payloads import FrameCounter


class _NoFrames(FrameCounter):
    """Parser of a feed without a websocket: no frame ever comes (the collector reads its counters)."""

    def parse(self, raw: str | bytes) -> list[Any]:
        return []


class HyperliquidLive(NoGapFill):
    """Polled Hyperliquid feed for ``symbols`` (coins: ``BTC``; ``BTCUSDT`` is read as ``BTC``).

    Parameters
    ----------
    client : HyperliquidClient
    symbols : sequence of str
    streams : sequence of str
        ``funding`` (sampled hourly rate with the mark price) and/or ``open_interest``.
    poll_s : float
        Seconds between snapshots.
    """

    venue = "hyperliquid"
    capabilities = CAPABILITIES
    kline_ms = 0

    def __init__(
        self,
        client: HyperliquidClient,
        symbols: Sequence[str],
        streams: Sequence[str],
        *,
        poll_s: float = 60.0,
    ) -> None:
        unknown = [s for s in streams if s not in LIVE]
        if unknown:
            raise ValueError(f"unknown Hyperliquid live streams {unknown}; known: {', '.join(LIVE)}")
        if poll_s <= 0:
            raise ValueError(f"poll_s must be positive, got {poll_s}")
        self.client = client
        self.symbols = [wire.coin_of(s) for s in symbols]
        self.streams = list(streams)
        self.poll_s = poll_s
        self.parser = _NoFrames()
        self._lock = asyncio.Lock()
        self._cache: tuple[float, pl.DataFrame, pl.DataFrame] | None = None

    def ws_url(self) -> str | None:
        return None

    def subscribe_messages(self) -> list[str]:
        return []

    def heartbeat(self) -> tuple[float, str] | None:
        return None

    async def _snapshot(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(funding, open interest) of the wanted coins; one request serves both polls of a period."""
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._cache is not None and loop.time() - self._cache[0] < self.poll_s / 2:
                return self._cache[1], self._cache[2]
            ts, pairs = await self.client.asset_contexts()
            coins = [wire.coin_of(s, [c for c, _ in pairs]) for s in self.symbols]
            fund, oi = wire.snapshot_records(pairs, ts, coins)
            self._cache = (loop.time(), fund, oi)
            return fund, oi

    async def _funding(self) -> pl.DataFrame:
        return (await self._snapshot())[0]

    async def _oi(self) -> pl.DataFrame:
        return (await self._snapshot())[1]

    def polls(self) -> list[Poll]:
        out = []
        if "funding" in self.streams:
            out.append(Poll("funding", FUNDING, self.poll_s, self._funding))
        if "open_interest" in self.streams:
            out.append(Poll("open_interest", OPEN_INTEREST, self.poll_s, self._oi))
        return out

    async def aclose(self) -> None:
        await self.client.aclose()
