"""Binance live feed: the websocket URL for the wanted streams, its parser, REST polls and gap fills.

This is what :mod:`perpscope.ingest.live` drives; it knows Binance, the collector does not.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from perpscope.core.time import interval_ms
from perpscope.records import CANDLES, OPEN_INTEREST
from perpscope.venues.binance.client import LIVE, BinanceClient, ws_streams, ws_url
from perpscope.venues.binance.stream_batch import BinanceBatchParser
from perpscope.venues.binance.wire import StreamParser
from perpscope.venues.feeds import Poll, rows_between


class BinanceLive:
    """Live Binance USDⓈ-M feed for ``symbols`` and ``streams`` (names in :data:`~.client.LIVE`).

    Parameters
    ----------
    client : BinanceClient
        REST client (URLs, rate budget) used for polls and gap fills; its ``urls.ws`` is the socket root.
    symbols : sequence of str
        Binance symbols (``BTCUSDT``); the liquidation stream covers every symbol regardless.
    streams : sequence of str
        ``liquidations``, ``trades``, ``funding``, ``klines``, ``open_interest``.
    oi_poll_s : float
        Open-interest polling period (Binance has no open-interest stream).
    """

    venue = "binance"

    def __init__(
        self,
        client: BinanceClient,
        symbols: Sequence[str],
        streams: Sequence[str],
        *,
        kline_period: str = "1m",
        oi_poll_s: float = 60.0,
        funding_sample_ms: int = 60_000,
    ) -> None:
        unknown = [s for s in streams if s not in LIVE]
        if unknown:
            raise ValueError(f"unknown Binance live streams {unknown}; known: {', '.join(LIVE)}")
        self.client = client
        self.symbols = [s.strip().upper() for s in symbols]
        self.streams = list(streams)
        self.kline_period = kline_period
        self.kline_ms = interval_ms(kline_period)
        self.parser = StreamParser("perp", funding_sample_ms=funding_sample_ms)
        #: the collector's hot path: typed batch decoding, the reference parser for everything else
        self.batch = BinanceBatchParser(self.parser)
        self.oi_poll_s = oi_poll_s
        self.capabilities = client.capabilities

    def ws_url(self) -> str | None:
        """Combined-stream URL, or None when every wanted stream is polled."""
        names = ws_streams(self.symbols, self.streams, self.kline_period)
        return ws_url(self.client.urls.ws, names) if names else None

    def subscribe_messages(self) -> list[str]:
        """Nothing to send: the combined-stream URL names the streams."""
        return []

    def heartbeat(self) -> tuple[float, str] | None:
        """None: Binance pings us (websocket ping frames), the client library answers."""
        return None

    def polls(self) -> list[Poll]:
        if "open_interest" not in self.streams:
            return []
        return [
            Poll("open_interest", OPEN_INTEREST, self.oi_poll_s, lambda s=s: self.client.open_interest_now(s))  # type: ignore[misc]
            for s in self.symbols
        ]

    async def prepare(self) -> None:
        """Fetch what parsing needs (funding intervals), once per connection."""
        if "funding" in self.streams:
            self.parser.funding_interval_ms = await self.client.funding_intervals()

    async def fill_trades(self, symbol: str, from_id: int, to_id: int) -> pl.DataFrame:
        return await self.client.agg_trades_from(symbol, from_id, to_id)

    async def fill_klines(self, symbol: str, start_ms: int, end_ms: int) -> pl.DataFrame:
        return await rows_between(self.client, "klines", CANDLES, symbol, start_ms, end_ms, self.kline_period)

    async def aclose(self) -> None:
        await self.client.aclose()
