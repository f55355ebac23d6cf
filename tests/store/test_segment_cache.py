"""The summary's per-file cache: a second ``store info`` answers the same from it, and any change to
the store (a rewritten, added or deleted month file) or to the cache itself is noticed."""

from __future__ import annotations

import os

import orjson
import pytest
from tests.store.small_store import T0, open_interest

from perpscope.core.time import HOUR_MS
from perpscope.records import OPEN_INTEREST
from perpscope.store import Lake
from perpscope.store.segment_cache import CACHE_NAME, SegmentCache
from perpscope.store.selection import Selection
from perpscope.store.summary import summary


def test_second_summary_comes_from_the_cache_and_equals_the_first(
    small: Lake,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = summary(small)
    doc = orjson.loads((small.root / CACHE_NAME).read_bytes())
    assert len(doc["files"]) == sum(len(small.month_files(r)) for r in small.records_present())

    def no_parsing(*_: object) -> None:
        raise AssertionError("a cached file was parsed again")

    import perpscope.store.summary as mod

    monkeypatch.setattr(mod, "footer_segments", no_parsing)
    monkeypatch.setattr(mod, "_read_segments", no_parsing)
    assert summary(small).equals(first)


def test_a_rewritten_file_is_read_again(small: Lake) -> None:
    before = summary(small).row(1, named=True)  # BTC on bybit: OI 1h, 8 rows, one hole
    assert (before["rows"], before["gap_series"]) == (8, 1)
    small.write(OPEN_INTEREST, open_interest([T0 + 4 * HOUR_MS, T0 + 5 * HOUR_MS], HOUR_MS))  # fills it
    after = summary(small).row(1, named=True)
    assert (after["rows"], after["gap_series"]) == (10, 0)


def test_a_deleted_file_leaves_the_summary_and_the_cache(small: Lake) -> None:
    summary(small)
    eth = small.month_files("candles", "binance", "ETH-USDT-PERP")
    for f in eth:
        os.unlink(f)
    s = summary(small)
    assert "candles 1h" not in s.filter(coin="ETH").row(0, named=True)["holdings"]
    doc = orjson.loads((small.root / CACHE_NAME).read_bytes())
    assert not any("ETH-USDT-PERP" in k and k.startswith("candles") for k in doc["files"])


def test_a_narrow_selection_keeps_the_other_entries(small: Lake) -> None:
    summary(small)
    n = len(orjson.loads((small.root / CACHE_NAME).read_bytes())["files"])
    summary(small, Selection(coins=frozenset({"ETH"})))
    assert len(orjson.loads((small.root / CACHE_NAME).read_bytes())["files"]) == n


@pytest.mark.parametrize("content", [b"{not json", b'{"version": -1, "files": {}}', b"[]"])
def test_a_damaged_or_foreign_cache_is_ignored(small: Lake, content: bytes) -> None:
    expected = summary(Lake(small.root))
    (small.root / CACHE_NAME).write_bytes(content)
    assert summary(small).equals(expected)


def test_a_cache_that_cannot_be_written_costs_nothing_but_time(small: Lake) -> None:
    (small.root / CACHE_NAME).mkdir()  # the cache's place is taken: every write of it fails
    assert summary(small).height == 3
    assert summary(small).height == 3
    assert not [p for p in small.root.iterdir() if p.name.endswith(".tmp")]  # no temporary file left


def test_entries_are_keyed_by_size_and_mtime(small: Lake) -> None:
    summary(small)
    cache = SegmentCache(small.root)
    f = small.month_files("candles", "binance", "ETH-USDT-PERP")[0]
    assert cache.get(f) is not None
    st = os.stat(f)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert cache.get(f) is None
