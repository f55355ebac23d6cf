"""Stall detection: a socket that stays open (pings answered) but stops delivering is reconnected.

Every live stream has a *normal interval*: how often it delivers when healthy. A stream is stalled when
nothing came for :data:`STALL_INTERVALS` of its normal intervals. Two cadences are watched:

- **rows** (:data:`ROW_INTERVAL_S`): event streams deliver a row per event (a trade, a liquidation);
  sampled or bar streams one row per sample or closed bar (funding: one sampled row a minute; klines:
  one closed 1-minute bar a minute);
- **frames** (:data:`FRAME_INTERVAL_S`): streams the venue pushes on a clock whatever happens (the mark
  price every 1 s on Binance, ``markPrice@1s``; kline updates every 250 ms on Binance, 500 ms on OKX), so
  a socket carrying them that receives no frame at all for N of those intervals is stalled, long before
  a minute's row is missed.

Sources: Binance USDⓈ-M websocket market streams (https://developers.binance.com/docs/derivatives/
usds-margined-futures/websocket-market-streams: "Update Speed" of each stream), OKX v5 public channels.
The intervals are deliberately generous (an illiquid symbol trades seldom): a false stall costs one
reconnect and a REST gap fill, a missed one costs data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: A stream is stalled after this many of its normal intervals without a delivery (N).
STALL_INTERVALS = 10.0

#: Normal interval between two rows of a stream, seconds (event or sample cadence).
ROW_INTERVAL_S: Mapping[str, float] = {
    "trades": 5.0,  # aggregated trades of a liquid perpetual: many a second; 5 s leaves room for quiet ones
    "liquidations": 60.0,  # market-wide liquidation feeds: several a minute
    "funding": 60.0,  # one sampled funding row per symbol per minute (the mark-price stream, sampled)
    "klines": 60.0,  # one closed bar per bar length (1 m by default)
}

#: Normal interval between two frames of a stream the venue pushes on a clock, seconds.
FRAME_INTERVAL_S: Mapping[str, float] = {
    "funding": 3.0,  # mark price: every 1 s (Binance @1s; 3 s without it)
    "klines": 2.0,  # kline updates: every 250 ms (Binance), 500 ms (OKX)
}


@dataclass(frozen=True)
class StallLimits:
    """How long silence may last before a socket is reconnected.

    Attributes
    ----------
    intervals : float
        N: a stream is stalled after N of its normal intervals without a delivery.
    row_interval_s, frame_interval_s : mapping of stream name → seconds
        Normal intervals (see the module docstring); a stream not named is not watched on that cadence.
    check_every_s : float
        How often the watch looks (detection is late by at most this).
    """

    intervals: float = STALL_INTERVALS
    row_interval_s: Mapping[str, float] = field(default_factory=lambda: dict(ROW_INTERVAL_S))
    frame_interval_s: Mapping[str, float] = field(default_factory=lambda: dict(FRAME_INTERVAL_S))
    check_every_s: float = 1.0


class StallWatch:
    """When one socket last received a frame and each of its streams a row; which one is overdue.

    Times are ``time.monotonic()`` seconds. The clock of every stream starts at the connection, so a
    socket that never delivers anything is a stall too.
    """

    def __init__(self, limits: StallLimits, streams: Iterable[str], now: float) -> None:
        self.limits = limits
        self.connected_at = now
        self.last_frame = now
        self.last_row: dict[str, float] = {s: now for s in streams}

    def frame(self, now: float) -> None:
        self.last_frame = now

    def row(self, stream: str, now: float) -> None:
        self.last_row[stream] = now

    def last_delivery(self) -> float:
        """The last time anything arrived (a frame), monotonic seconds."""
        return self.last_frame

    def overdue(self, now: float) -> str | None:
        """Why the socket is stalled (the stream, its silence and its limit), or None while healthy."""
        n = self.limits.intervals
        frame_every = [
            self.limits.frame_interval_s[s] for s in self.last_row if s in self.limits.frame_interval_s
        ]
        if frame_every:
            limit = n * min(frame_every)
            if now - self.last_frame > limit:
                return f"no frame for {now - self.last_frame:.1f} s (limit {n:g} × {min(frame_every):g} s)"
        for stream, last in self.last_row.items():
            every = self.limits.row_interval_s.get(stream)
            if every is not None and now - last > n * every:
                return f"{stream}: no message for {now - last:.1f} s (limit {n:g} × {every:g} s)"
        return None
