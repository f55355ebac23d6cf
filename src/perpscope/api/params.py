"""Request checking for the API: every symbol, venue, interval and range is validated before it reaches
the store, so no parameter can steer a file path or a query.

Errors are :class:`ApiError` with the HTTP status to answer and a message that says what was expected,
what was found and what to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from perpscope.core.time import DAY_MS, HOUR_MS, MINUTE_MS, WEEK_MS, YEAR_MS, parse_time_ms

_VENUE_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SYMBOL_RE = re.compile(r"^[A-Za-z0-9]{1,20}-[A-Za-z0-9]{1,20}-(PERP|SPOT|perp|spot|\d{6})$")
_VENUE_SPELLING_RE = re.compile(r"^[A-Za-z0-9]{2,30}$")

#: Bar lengths the API serves, finest first (server-side downsampling picks one of them).
LADDER_MS: tuple[int, ...] = (
    MINUTE_MS,
    5 * MINUTE_MS,
    15 * MINUTE_MS,
    HOUR_MS,
    4 * HOUR_MS,
    12 * HOUR_MS,
    DAY_MS,
    WEEK_MS,
)


class ApiError(Exception):
    """A request the API refuses: ``status`` (4xx) and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Limits:
    """Size limits of every answer.

    Attributes
    ----------
    max_range_ms : int
        Longest time range one request may ask for (3 years).
    max_rows : int
        Largest page of raw records (``limit`` ≤ this).
    default_points, max_points : int
        Bars per series after downsampling: default and largest a client may ask for.
    heatmap_times, heatmap_prices : int
        Heatmap grid sent to the client: snapshots × price rows.
    """

    max_range_ms: int = 3 * YEAR_MS
    max_rows: int = 5_000
    default_points: int = 1_500
    max_points: int = 5_000
    heatmap_times: int = 240
    heatmap_prices: int = 120


def check_venue(venue: str) -> str:
    """A venue scope: one venue as the store spells it (lower-case letters, digits, ``_``), a comma list
    of up to 12 (``binance,bybit,okx``), or ``all``."""
    names = venue.split(",")
    if len(names) > 12 or not all(_VENUE_RE.match(v) for v in names):
        raise ApiError(400, f"venue must be like 'binance', 'binance,bybit,okx' or 'all'; got {venue[:40]!r}")
    return venue


def check_symbol(symbol: str) -> str:
    """A canonical symbol (``BTC-USDT-PERP``) or a venue spelling (``BTCUSDT``), upper-cased."""
    if _SYMBOL_RE.match(symbol):
        return symbol.upper()
    if _VENUE_SPELLING_RE.match(symbol):
        return symbol.upper()
    raise ApiError(
        400,
        f"symbol must be canonical like BTC-USDT-PERP or a venue spelling like BTCUSDT; got {symbol[:40]!r}",
    )


def check_time(text: str | None, name: str) -> int | None:
    """``None`` or an instant (ISO date/datetime UTC, or epoch ms) → ms UTC."""
    if text is None or text == "":
        return None
    if len(text) > 40:
        raise ApiError(400, f"{name}: expected a date (2025-10-10), a UTC datetime or epoch ms; too long")
    try:
        ms = parse_time_ms(text)
    except (ValueError, OverflowError, OSError) as e:
        raise ApiError(400, f"{name}: {e}") from None
    if not 0 <= ms < 4_102_444_800_000:  # 1970 … 2100
        raise ApiError(400, f"{name}: expected an instant between 1970 and 2100; got {text!r}")
    return ms


def check_range(start_ms: int, end_ms: int, limits: Limits) -> None:
    """``start < end`` and no longer than :attr:`Limits.max_range_ms`."""
    if end_ms <= start_ms:
        raise ApiError(400, "bad range: 'from' must be before 'to'; swap them or widen the range")
    if end_ms - start_ms > limits.max_range_ms:
        days = limits.max_range_ms // DAY_MS
        raise ApiError(
            413,
            f"range too long: {(end_ms - start_ms) // DAY_MS:,} days asked, at most {days:,} per request; "
            "ask for a shorter range",
        )


def pick_every(finest_ms: int, span_ms: int, max_points: int) -> int:
    """Shortest bar length of :data:`LADDER_MS` that is a whole multiple of ``finest_ms`` and gives at
    most ``max_points`` bars over ``span_ms`` (the longest ladder step otherwise)."""
    fits = [e for e in LADDER_MS if e >= finest_ms and e % finest_ms == 0]
    if not fits:
        return finest_ms
    for e in fits:
        if -(-span_ms // e) <= max_points:
            return e
    return fits[-1]
