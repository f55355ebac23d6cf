"""HistorySpec: the one place every venue client turns a period into ms and a request window."""

from __future__ import annotations

import pytest

from perpscope.records import CANDLES
from perpscope.venues.feeds import HistorySpec

SPEC = HistorySpec(
    "klines", CANDLES, "/x", page_limit=500, weight=1, periods=("1m", "1h"), default_period="1h"
)


def test_period_ms_defaults_and_refuses_unknown_periods() -> None:
    assert SPEC.period_ms(None) == 3_600_000 and SPEC.period_ms("1m") == 60_000
    with pytest.raises(ValueError, match=r"klines: period must be one of 1m, 1h, got '5m'"):
        SPEC.period_ms("5m")
    assert HistorySpec("funding", CANDLES, "/f", 100, 1).period_ms("8h") is None  # not interval-based


def test_window_pages_until_the_end() -> None:
    # 500 hourly bars from t=0 end at 500 h − 1 ms; the next page starts at 500 h
    assert SPEC.window(0, 10**12, 3_600_000) == (1_800_000_000 - 1, 1_800_000_000)
    # a range shorter than a page ends at end − 1 and has no next page
    assert SPEC.window(0, 7_200_000, 3_600_000) == (7_199_999, None)
