"""Exchange trading calendars (``exchange_calendars``): which days are sessions, and when they close.

US spot ETF flows exist only for New York Stock Exchange sessions (``XNYS``): a weekend or a market
holiday is not a zero-flow day, and a 5-day sum is five *sessions*. Days are int ms UTC at 00:00 of the
date; closes are int ms UTC (16:00 New York, 13:00 on early-close days).

References
----------
exchange_calendars, https://github.com/gerrymanoim/exchange_calendars (``get_calendar``,
``sessions_in_range``, ``session_close``).
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import exchange_calendars as xcals

DAY_MS = 86_400_000
#: The US equity calendar ETF creations and redemptions follow.
US_EQUITIES = "XNYS"


@lru_cache(maxsize=8)
def _calendar(name: str) -> xcals.ExchangeCalendar:
    # imported here: exchange_calendars (and pandas under it) cost ~0.8 s to import, which every command
    # importing the CSV mappings paid, flows or not
    import exchange_calendars as xcals

    # the calendar's default span (about 20 years back): every record here is within it. Building it,
    # exchange_calendars 4.13 trips a pandas 3 deprecation of its own (Series.values on tz-aware data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return xcals.get_calendar(name)


def _bounds(name: str) -> tuple[int, int]:
    cal = _calendar(name)
    return int(cal.first_session.value // 1_000_000), int(cal.last_session.value // 1_000_000)


def session_days_ms(start_ms: int, end_ms: int, name: str = US_EQUITIES) -> np.ndarray:
    """The sessions whose date lies in ``[start_ms, end_ms]`` (each its date at 00:00 UTC, int64 ms).

    The range is clipped to the calendar's own span (about 20 years back to 1 year ahead).
    """
    lo, hi = _bounds(name)
    a, b = max(start_ms // DAY_MS * DAY_MS, lo), min(end_ms, hi)
    if a > b:
        return np.empty(0, dtype=np.int64)
    import pandas as pd

    days = _calendar(name).sessions_in_range(pd.Timestamp(a, unit="ms"), pd.Timestamp(b, unit="ms"))
    return np.asarray(days.as_unit("ms").asi8, dtype=np.int64)


def session_closes_ms(days_ms: np.ndarray, name: str = US_EQUITIES) -> np.ndarray:
    """The close (int ms UTC) of each session in ``days_ms`` (dates at 00:00 UTC); -1 for a day that is
    not a session."""
    if len(days_ms) == 0:
        return np.empty(0, dtype=np.int64)
    closes = _closes(name)
    days = np.asarray(days_ms, dtype=np.int64)
    pos = np.searchsorted(closes[0], days)
    pos = np.minimum(pos, len(closes[0]) - 1)
    return np.where(closes[0][pos] == days, closes[1][pos], -1).astype(np.int64)


@lru_cache(maxsize=8)
def _closes(name: str) -> tuple[np.ndarray, np.ndarray]:
    # (session dates, session closes), both int64 ms UTC, sorted: one lookup table per calendar
    import pandas as pd

    sched = _calendar(name).schedule
    days = np.asarray(pd.DatetimeIndex(sched.index).as_unit("ms").asi8, dtype=np.int64)
    closes = np.asarray(pd.DatetimeIndex(sched["close"]).tz_convert("UTC").as_unit("ms").asi8, dtype=np.int64)
    return days, closes


def is_session(days_ms: np.ndarray, name: str = US_EQUITIES) -> np.ndarray:
    """Per day (int ms UTC, any time of the day): True when its date is a session of calendar ``name``."""
    days = np.asarray(days_ms, dtype=np.int64) // DAY_MS * DAY_MS
    return session_closes_ms(days, name) >= 0
