"""What a venue's live and history clients declare and return, so ``ingest`` can drive any venue alike.

- :class:`Capabilities` — a typed, frozen statement of what a venue serves: per history stream how far
  back, the page size, the request weight; the REST rate budget; whether its liquidation feed is
  complete or sampled.
- :class:`Page` — one page of history: record frames plus where the next page starts;
  :func:`rows_between` pages a stream through a window (the one pager of every venue's gap fills).
- :class:`Batch` — records parsed from one live message, grouped by record type.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import polars as pl

from perpscope.core.time import interval_ms
from perpscope.records import CANDLES, TRADES, RecordType

LiveKind = Literal["stream", "poll", "none"]


@dataclass(frozen=True, slots=True)
class HistorySpec:
    """How one history stream of a venue can be paged.

    Attributes
    ----------
    name : str
        Stream name used on the command line (``klines``, ``funding``, ``open_interest``, ...).
    record : RecordType
        What its rows are.
    endpoint : str
        REST path (documentation aid; the client builds requests).
    page_limit : int
        Rows per request, the venue's maximum.
    weight : int
        Request weight against the venue's budget at that page size.
    max_age_ms : int or None
        How far back the venue serves it (``None``: since listing).
    periods : tuple of str
        Bar/sampling intervals the endpoint accepts (empty: not interval-based).
    default_period : str or None
        Interval used when none is given.
    archive : str or None
        Where older history exists (e.g. ``perpscope download --dataset metrics``).
    """

    name: str
    record: RecordType
    endpoint: str
    page_limit: int
    weight: int
    max_age_ms: int | None = None
    periods: tuple[str, ...] = ()
    default_period: str | None = None
    archive: str | None = None

    def period_ms(self, period: str | None) -> int | None:
        """Length (ms) of ``period`` (default :attr:`default_period`); None when not interval-based.

        Raises ValueError naming the accepted periods when the endpoint does not take ``period``.
        """
        if not self.periods:
            return None
        p = period or self.default_period
        if p is None or p not in self.periods:
            raise ValueError(f"{self.name}: period must be one of {', '.join(self.periods)}, got {p!r}")
        return interval_ms(p)

    def page_bounds(
        self, start_ms: int, end_ms: int, period: str | None, default_step_ms: int | None = None
    ) -> tuple[int, int, int | None]:
        """``(step_ms, last_ms, next_ms)`` of the page from ``start_ms``: the bar length of ``period``
        (``default_step_ms`` for a stream that is not interval-based) and :meth:`window`.

        Raises ValueError when the stream has no bar length and no default is given.
        """
        step = self.period_ms(period) or default_step_ms
        if step is None:
            raise ValueError(f"{self.name} is not paged by bars: give a default step")
        return (step, *self.window(start_ms, end_ms, step))

    def after_last(self, last_ms: int, rows: int, end_ms: int) -> int | None:
        """Where the next page of a stream paged by its rows (irregular settlements) starts: just after
        the page's last instant, or None when the page was not full or reached ``end_ms``."""
        return last_ms + 1 if rows >= self.page_limit and last_ms + 1 < end_ms else None

    def window(self, start_ms: int, end_ms: int, step_ms: int) -> tuple[int, int | None]:
        """One page of ``step_ms`` bars from ``start_ms``: its last instant (inclusive, ms) and where the
        next page starts (None: this page reaches ``end_ms``, exclusive)."""
        last = min(end_ms, start_ms + self.page_limit * step_ms) - 1
        return last, (last + 1 if last + 1 < end_ms else None)


@dataclass(frozen=True, slots=True)
class LiveSpec:
    """One live stream: delivered by ``stream`` (websocket) or ``poll`` (REST every ``poll_s``)."""

    name: str
    record: RecordType
    kind: LiveKind
    channel: str
    poll_s: float | None = None
    gap_fill: str | None = None  # how a gap after a reconnect is filled, or None: cannot be


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a venue serves and at what cost.

    Attributes
    ----------
    venue : str
    rest_budget : tuple of (float, float)
        (weight, seconds): the published REST limit per IP.
    history : mapping of str to HistorySpec
    live : mapping of str to LiveSpec
    liquidations_complete : bool
        True when the liquidation stream publishes every liquidation; False when it is sampled.
    liquidation_note : str
        The sampling rule in words (e.g. at most one per symbol per second).
    ws_limits : str
        Connection rules that shape reconnects (lifetime, messages per second, streams per socket).
    """

    venue: str
    rest_budget: tuple[float, float]
    history: Mapping[str, HistorySpec]
    live: Mapping[str, LiveSpec]
    liquidations_complete: bool
    liquidation_note: str
    ws_limits: str = ""


@dataclass(frozen=True)
class Page:
    """One page of history.

    Attributes
    ----------
    frames : mapping of RecordType to polars.DataFrame
        Conformed frames per record type (possibly empty).
    next_ms : int or None
        Where the next request starts (ms); None: nothing more up to the requested end.
    rows : int
        Rows of the page's main record (what progress and the backfill report count).
    note : str
        Anything the caller should know about this page (empty when nothing).
    """

    frames: Mapping[RecordType, pl.DataFrame]
    next_ms: int | None
    rows: int
    note: str = ""


class PagedHistory(Protocol):
    """What serves history pages: every venue client's ``page``."""

    async def page(
        self, stream: str, symbol: str, start_ms: int, end_ms: int, period: str | None = None
    ) -> Page: ...


async def rows_between(
    source: PagedHistory,
    stream: str,
    record: RecordType,
    symbol: str,
    start_ms: int,
    end_ms: int,
    period: str | None = None,
) -> pl.DataFrame:
    """Every ``record`` row of ``stream`` from ``start_ms`` (inclusive) to ``end_ms`` (exclusive), page
    after page (e.g. closed candles to fill a live feed's gap after a reconnect)."""
    frames = []
    cur: int | None = start_ms
    while cur is not None and cur < end_ms:
        p = await source.page(stream, symbol, cur, end_ms, period)
        frames.append(p.frames.get(record, record.empty()))
        cur = p.next_ms
    return pl.concat(frames) if frames else record.empty()


@dataclass
class Batch:
    """Records parsed from live messages, per record type (dataclass instances, row-wise)."""

    rows: dict[RecordType, list[Any]] = field(default_factory=dict)

    def add(self, record: RecordType, row: Any) -> None:
        self.rows.setdefault(record, []).append(row)


@dataclass(frozen=True)
class Poll:
    """A REST value with no stream, fetched every ``every_s`` seconds."""

    stream: str
    record: RecordType
    every_s: float
    fetch: Callable[[], Awaitable[pl.DataFrame]]


class NoGapFill:
    """Defaults for a live feed (:class:`perpscope.ingest.live.LiveFeed`) whose venue needs no set-up per
    connection and cannot refill a gap by REST: subclasses override what their venue does offer."""

    async def prepare(self) -> None:
        return None

    async def fill_trades(self, symbol: str, from_id: int, to_id: int) -> pl.DataFrame:
        return TRADES.empty()

    async def fill_klines(self, symbol: str, start_ms: int, end_ms: int) -> pl.DataFrame:
        return CANDLES.empty()
