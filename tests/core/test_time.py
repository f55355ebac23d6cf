import pytest

from perpscope.core.time import DAY_MS, interval_label, interval_ms, month_key, ms_to_iso, parse_time_ms

# 2025-10-06 00:00 UTC is the open time of the first 5m bar of LeopoldLj's Oct-2025 file (shared data).
OCT_6_2025_MS = 1759708800000


def test_interval_parsing_and_labels() -> None:
    assert interval_ms("1m") == 60_000
    assert interval_ms("5m") == 300_000
    assert interval_ms("8h") == 28_800_000
    assert interval_ms("1d") == 86_400_000
    assert interval_label(300_000) == "5m"
    assert interval_label(4 * 3_600_000) == "4h"
    for bad in ("", "5", "1M", "0m", "m5", "-1h"):
        with pytest.raises(ValueError, match="expected an interval"):
            interval_ms(bad)


def test_parse_time_accepts_dates_datetimes_and_epoch_ms() -> None:
    assert parse_time_ms("2025-10-06") == OCT_6_2025_MS
    assert parse_time_ms("2025-10-10") == OCT_6_2025_MS + 4 * DAY_MS
    assert parse_time_ms("2025-10-06T01:30:00Z") == OCT_6_2025_MS + 90 * 60_000
    assert parse_time_ms("2025-10-06 01:30") == OCT_6_2025_MS + 90 * 60_000  # naive = UTC
    assert parse_time_ms(str(OCT_6_2025_MS)) == OCT_6_2025_MS
    with pytest.raises(ValueError, match="expected a date"):
        parse_time_ms("yesterday")


def test_month_key_and_iso() -> None:
    assert month_key(OCT_6_2025_MS) == "2025-10"
    assert month_key(OCT_6_2025_MS - 6 * DAY_MS - 1) == "2025-09"
    assert ms_to_iso(OCT_6_2025_MS) == "2025-10-06 00:00"
