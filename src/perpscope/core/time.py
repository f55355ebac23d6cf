"""Time: int64 milliseconds since the epoch, UTC, everywhere (``*_ms``).

Helpers here turn what users type (ISO dates, ISO datetimes, epoch ms) and bar intervals
(``"5m"``, ``"8h"``) into milliseconds, and back into readable UTC text.
"""

from __future__ import annotations

import re
import time as _time
from datetime import UTC, datetime
from typing import Protocol

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
#: Milliseconds in a 365-day year; annualization uses this (funding pays on calendar time).
YEAR_MS = 365 * DAY_MS

_UNIT_MS = {"s": SECOND_MS, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS, "w": WEEK_MS}
_INTERVAL_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


class Clock(Protocol):
    """Source of the current time in ms; injected so computations never read the wall clock."""

    def now_ms(self) -> int:
        """Current time, ms since the epoch, UTC."""
        ...


class SystemClock:
    """The wall clock. Only the composition root (CLI, services) should create one."""

    def now_ms(self) -> int:
        return time_ns_to_ms(_time.time_ns())


def time_ns_to_ms(ns: int) -> int:
    """Nanoseconds → milliseconds (floor)."""
    return ns // 1_000_000


def interval_ms(text: str) -> int:
    """Parse a bar interval such as ``"1m"``, ``"5m"``, ``"8h"``, ``"1d"``, ``"1w"`` into ms.

    Binance's ``"1M"`` (calendar month) has no fixed length and is rejected.

    Raises
    ------
    ValueError
        If the text is not ``<number><s|m|h|d|w>``.
    """
    m = _INTERVAL_RE.match(text)
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"expected an interval like 1m, 5m, 1h, 8h, 1d; got {text!r}")
    return int(m.group(1)) * _UNIT_MS[m.group(2)]


def interval_label(ms: int) -> str:
    """Inverse of :func:`interval_ms` for whole units (``300000`` → ``"5m"``)."""
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNIT_MS[unit]
        if ms % size == 0 and ms >= size:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def parse_time_ms(text: str | int) -> int:
    """Parse a user-given instant into ms UTC.

    Accepts epoch milliseconds (an int, or digits of 11+ characters), ISO dates (``2025-10-10``,
    midnight UTC) and ISO datetimes (``2025-10-10T21:00``, ``2025-10-10 21:00:00Z``; a naive time is
    taken as UTC).
    """
    if isinstance(text, int):
        return text
    s = text.strip()
    if s.isdigit() and len(s) >= 11:
        return int(s)
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"expected a date (2025-10-10), a UTC datetime or epoch ms; got {text!r}") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def ms_to_datetime(ms: int) -> datetime:
    """ms since the epoch → aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def ms_to_iso(ms: int, *, seconds: bool = False) -> str:
    """ms → ``"2025-10-10 21:00"`` (UTC), or with seconds."""
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return ms_to_datetime(ms).strftime(fmt)


def month_start_ms(ms: int) -> int:
    """Start of the UTC calendar month holding ``ms``."""
    d = ms_to_datetime(ms)
    return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp() * 1000)


def next_month_ms(ms: int) -> int:
    """Start of the UTC calendar month after the one holding ``ms``."""
    d = ms_to_datetime(ms)
    year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


def month_key(ms: int) -> str:
    """``"yyyy-mm"`` of the UTC month holding ``ms`` (the store's file name)."""
    return ms_to_datetime(ms).strftime("%Y-%m")
