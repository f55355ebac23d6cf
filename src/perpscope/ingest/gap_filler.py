"""Gap filling for the live collector: what a socket missed is fetched over REST, or listed as unfilled.

- **Trades**: aggregated trade ids are consecutive, so a jump (after a reconnect, a stall or a lost
  frame) is a gap: the missing ids are fetched by id, one filler per symbol working through a queue.
- **Klines**: a closed bar later than the next expected one: the missing bars are fetched by time.
- **Liquidations**: no venue serves their history, so an outage window is listed unfilled.
- **Restart**: on start the last stored trade id and closed bar of each symbol are read from the store,
  so the first live message after a downtime opens a gap like any other and the trades and bars made
  while no collector ran are fetched; liquidations from the previous collector's last sign of life to
  this start are listed unfilled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any

import numpy as np
import polars as pl

from perpscope.core.errors import PerpscopeError, VenueError
from perpscope.ingest.live_feed import LiveFeed, feed_streams, feed_symbols
from perpscope.ingest.sink import Sink, StreamStatus
from perpscope.ingest.status_writer import LiveStatus
from perpscope.records import CANDLES, TRADES, RecordType
from perpscope.store import Lake
from perpscope.store.reader import read

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

#: Missing trade-id ranges queued per symbol; beyond this they are reported unfilled, not fetched.
MAX_QUEUED_GAPS = 100


class GapFiller:
    """Notices holes in trade ids and bar times and fills them by REST into ``sink``.

    Parameters
    ----------
    sink : Sink
        Where fetched rows go.
    status : LiveStatus
        Counters (gaps filled / unfilled, last errors).
    max_trade_fill_ids : int
        Larger trade-id gaps are listed unfilled instead of fetched.
    """

    def __init__(self, sink: Sink, status: LiveStatus, max_trade_fill_ids: int) -> None:
        self.sink = sink
        self.status = status
        self.max_trade_fill_ids = max_trade_fill_ids
        self.tasks: set[asyncio.Task[None]] = set()
        self._last_trade: dict[tuple[str, str], int] = {}
        self._last_kline: dict[tuple[str, str, int], int] = {}
        self._trade_gaps: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self._trade_fillers: set[tuple[str, str]] = set()

    # -- restart -----------------------------------------------------------------------------------
    def resume_from_store(self, lake: Lake, feeds: Sequence[LiveFeed], lookback_ms: int) -> None:
        """Seed the last trade id and closed bar per symbol from the store (the last ``lookback_ms``),
        and list the liquidations missed since the previous collector's last status as unfilled."""
        since = self.status.started_ms - lookback_ms
        for feed in feeds:
            streams = feed_streams(feed)
            for sym in feed_symbols(feed) if {"trades", "klines"} & set(streams) else []:
                if "trades" in streams:
                    ids = _stored(lake, TRADES.name, feed.venue, sym, since, "trade_id")
                    if ids.height and ids[0, 0] is not None:
                        self._last_trade[(feed.venue, sym)] = int(ids[0, 0])
                if "klines" in streams:
                    bars = _stored(
                        lake, CANDLES.name, feed.venue, sym, since, "ts_ms", by="interval_ms", trade_bars=True
                    )
                    for interval, last in bars.iter_rows():
                        self._last_kline[(feed.venue, sym, int(interval))] = int(last.timestamp() * 1000)
            prev = self.status.previous
            if "liquidations" in streams and prev is not None:
                st = self.status.stream(feed.venue, "liquidations")
                self.status.unfilled(st, prev.last_alive_ms, self.status.started_ms)

    # -- live checks -------------------------------------------------------------------------------
    def check_trade(self, feed: LiveFeed, st: StreamStatus, row: Any) -> None:
        key = (feed.venue, row.symbol)
        last = self._last_trade.get(key)
        tid = row.trade_id
        if last is not None:
            if tid <= last:
                st.duplicates += 1
                return
            if tid > last + 1:
                self._queue_trade_gap(feed, st, row.symbol, last + 1, tid - 1)
        self._last_trade[key] = tid

    def check_trade_ids(self, feed: LiveFeed, st: StreamStatus, symbol: str, ids: np.ndarray) -> None:
        """:meth:`check_trade` over a batch of one symbol's trade ids (int64, in arrival order): the
        same outcome as checking them one by one, with numpy instead of a Python step per row.

        The last id checked is the running maximum of the ids before (a repeat or an older id leaves it
        where it was), so each id is compared with the cumulative maximum of those before it."""
        if ids.size == 0:
            return
        key = (feed.venue, symbol)
        last = self._last_trade.get(key)
        before = np.empty_like(ids)
        before[1:] = np.maximum.accumulate(ids[:-1])
        if last is None:
            before[0] = ids[0] - 1  # the first id ever seen opens no gap
            if ids.size > 1:
                before[1:] = np.maximum(before[1:], ids[0])
        else:
            # an id beyond int64 checked by the row path (its row is refused at the flush) still moved
            # ``last``: clamped, it compares with these ids as it would unclamped
            seen = min(max(last, _INT64_MIN), _INT64_MAX)
            before[0] = seen
            before[1:] = np.maximum(before[1:], seen)
        st.duplicates += int(np.count_nonzero(ids <= before))
        # ids − before as unsigned: exact for ids above before, where a signed before + 1 could wrap
        step = ids.astype(np.uint64) - before.astype(np.uint64)
        for i in np.flatnonzero((ids > before) & (step > 1)):
            self._queue_trade_gap(feed, st, symbol, int(before[i]) + 1, int(ids[i]) - 1)
        top = int(ids.max())
        self._last_trade[key] = top if last is None else max(last, top)

    def check_kline(self, feed: LiveFeed, st: StreamStatus, row: Any) -> None:
        """A closed bar later than the next expected one (after a reconnect or a lost frame): fill by REST."""
        key = (feed.venue, row.symbol, row.interval_ms)
        last = self._last_kline.get(key)
        if last is not None and row.ts_ms > last + row.interval_ms:
            self.spawn(self._fill_klines(feed, st, row.symbol, last + row.interval_ms, row.ts_ms))
        if last is None or row.ts_ms > last:
            self._last_kline[key] = row.ts_ms

    def after_reconnect(self, feed: LiveFeed, down_ms: int, up_ms: int) -> None:
        """Liquidations have no REST history: the outage window of the venue is listed unfilled."""
        for st in self.status.streams_of(feed.venue):
            if st.stream == "liquidations":
                self.status.unfilled(st, down_ms, up_ms)

    # -- tasks -------------------------------------------------------------------------------------
    def spawn(self, coro: Awaitable[None]) -> None:
        t = asyncio.ensure_future(coro)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    async def cancel(self) -> None:
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # -- fills -------------------------------------------------------------------------------------
    def _queue_trade_gap(self, feed: LiveFeed, st: StreamStatus, symbol: str, a: int, b: int) -> None:
        """Queue a missing id range; one filler per symbol works through the queue (no request storm)."""
        if b - a + 1 > self.max_trade_fill_ids:
            self.status.unfilled(st, a, b)
            self.status.venues[feed.venue].last_error = (
                f"trade gap {a}..{b} ({b - a + 1:,} ids) is larger than the {self.max_trade_fill_ids:,} "
                "filled by REST: take it from the public archive (perpscope download)"
            )
            return
        key = (feed.venue, symbol)
        queue = self._trade_gaps.setdefault(key, [])
        if queue and a <= queue[-1][1] + 1:
            queue[-1] = (queue[-1][0], max(b, queue[-1][1]))
        elif len(queue) >= MAX_QUEUED_GAPS:
            self.status.unfilled(st, a, b)
            return
        else:
            queue.append((a, b))
        if key not in self._trade_fillers:
            self._trade_fillers.add(key)
            self.spawn(self._drain_trade_gaps(feed, st, symbol))

    async def _drain_trade_gaps(self, feed: LiveFeed, st: StreamStatus, symbol: str) -> None:
        key = (feed.venue, symbol)
        try:
            while self._trade_gaps.get(key):
                a, b = self._trade_gaps[key].pop(0)
                await self._fill_trades(feed, st, symbol, a, b)
        finally:
            self._trade_fillers.discard(key)

    async def _fill_trades(self, feed: LiveFeed, st: StreamStatus, symbol: str, a: int, b: int) -> None:
        await self._fill(st, feed.venue, TRADES, feed.fill_trades(symbol, a, b), a, b, f"trade gap {a}..{b}")

    async def _fill_klines(self, feed: LiveFeed, st: StreamStatus, symbol: str, start: int, end: int) -> None:
        if end > start:
            await self._fill(
                st, feed.venue, CANDLES, feed.fill_klines(symbol, start, end), start, end, "kline gap"
            )

    async def _fill(
        self,
        st: StreamStatus,
        venue: str,
        record: RecordType,
        fetch: Awaitable[pl.DataFrame],
        a: int,
        b: int,
        what: str,
    ) -> None:
        """Await one REST fill of the gap ``a..b`` (trade ids or ms) and queue its rows; a fill the venue
        cannot give is listed as unfilled with the reason."""
        try:
            df = await fetch
        except (VenueError, OSError, ValueError) as exc:
            self.status.unfilled(st, a, b)
            self.status.venues[venue].last_error = f"{what} not filled: {exc}"
            return
        self.sink.add_frame(record, df)
        st.gaps_filled += 1
        st.rows_filled += df.height


def _stored(
    lake: Lake,
    record: str,
    venue: str,
    symbol: str,
    since_ms: int,
    col: str,
    by: str | None = None,
    trade_bars: bool = False,
) -> pl.DataFrame:
    """The largest ``col`` of ``record`` stored for ``venue``/``symbol`` since ``since_ms`` (per ``by``;
    ``trade_bars``: trade-price bars only, what the kline stream delivers); empty when nothing is stored
    or the store cannot be read (a restart must not fail on it)."""
    try:
        df = read(
            lake,
            record,
            venue=venue,
            symbol=symbol,
            start_ms=since_ms,
            where={"price_type": "trade"} if trade_bars else None,
            columns=[c for c in (by, col) if c],
            sources="all",
        )
    except (PerpscopeError, OSError, pl.exceptions.PolarsError):
        return pl.DataFrame()
    if by is None:
        return df.select(pl.col(col).max())
    return df.group_by(by).agg(pl.col(col).max())
