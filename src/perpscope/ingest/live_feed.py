"""What the live collector needs from a venue: a socket URL, a parser, polls and REST gap fills.

The venues implement these protocols (see :class:`perpscope.venues.binance.live.BinanceLive`); the
collector (:mod:`perpscope.ingest.live`) knows no venue.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import polars as pl

from perpscope.records import RecordType

#: One parsed row: (live stream name, record type, record); from a batch parser the third element may
#: also be a polars frame of rows (columns named as the record's, not yet conformed).
Row = tuple[str, RecordType, Any]


class LiveParser(Protocol):
    malformed: int
    unknown: int

    def parse(self, raw: str | bytes) -> list[Row]: ...


class BatchParser(Protocol):
    """A parser that decodes frames into batches (the collector's hot path; see
    :class:`perpscope.venues.binance.stream_batch.BinanceBatchParser`). A feed offers one as its
    ``batch`` attribute; feeds without one are parsed frame by frame with :attr:`LiveFeed.parser`."""

    #: frames added and not yet taken, in arrival order; the socket loop appends to it directly
    frames: list[str | bytes]

    def add(self, raw: str | bytes) -> None: ...

    def take(self) -> list[Row]: ...


def batch_parser(feed: LiveFeed) -> BatchParser | None:
    """The feed's batch parser, or None when it parses frame by frame."""
    return getattr(feed, "batch", None)


class PollLike(Protocol):
    @property
    def stream(self) -> str: ...

    @property
    def record(self) -> RecordType: ...

    @property
    def every_s(self) -> float: ...

    @property
    def fetch(self) -> Callable[[], Awaitable[pl.DataFrame]]: ...


class LiveFeed(Protocol):
    """A venue's live side (see :class:`perpscope.venues.binance.live.BinanceLive`)."""

    venue: str

    @property
    def parser(self) -> LiveParser: ...

    def ws_url(self) -> str | None: ...

    def subscribe_messages(self) -> list[str]: ...

    def heartbeat(self) -> tuple[float, str] | None: ...

    def polls(self) -> Sequence[PollLike]: ...

    async def prepare(self) -> None: ...

    async def fill_trades(self, symbol: str, from_id: int, to_id: int) -> pl.DataFrame: ...

    async def fill_klines(self, symbol: str, start_ms: int, end_ms: int) -> pl.DataFrame: ...

    async def aclose(self) -> None: ...


def feed_streams(feed: LiveFeed) -> list[str]:
    """The live stream names ``feed`` was asked for (its ``streams`` attribute; empty if it has none)."""
    return [str(s) for s in getattr(feed, "streams", ())]


def feed_symbols(feed: LiveFeed) -> list[str]:
    """The venue symbols ``feed`` was asked for (its ``symbols`` attribute; empty if it has none)."""
    return [str(s) for s in getattr(feed, "symbols", ())]
