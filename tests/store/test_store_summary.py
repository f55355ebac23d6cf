"""Store summary from Parquet footers, selections, and the per-series coverage of a selection.

Every figure is checked against the rows written; the footer-based gap flag against the exact gaps
that :func:`coverage` finds by reading every row.
"""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.store.small_store import JAN_2024, T0, grid, open_interest

from perpscope.core.time import DAY_MS, HOUR_MS
from perpscope.records import OPEN_INTEREST
from perpscope.store import Lake
from perpscope.store import lake as lake_module
from perpscope.store.coverage import coverage, coverage_of
from perpscope.store.selection import Selection, coin_of, selected_partitions
from perpscope.store.summary import footer_segments, summary


def test_summary_rows_match_what_was_written(small: Lake) -> None:
    s = summary(small)
    assert s.select("coin", "venue").rows() == [("BTC", "binance"), ("BTC", "bybit"), ("ETH", "binance")]
    btc = s.row(0, named=True)
    assert btc["records"] == ["candles", "funding"]
    assert btc["holdings"] == ["candles 5m·1h·1d", "funding 4h·8h"]
    assert btc["symbols"] == ["BTC-USDT-PERP", "BTC-USDT-SPOT"]
    assert btc["rows"] == 24 + 47 + 3 + 5
    assert (btc["first_ms"], btc["last_ms"]) == (JAN_2024, T0 + 47 * HOUR_MS)
    # series: candles 5m, 1h (perp) and 1d (spot), funding; the 1h hole is the only gap
    assert (btc["series"], btc["checked_series"], btc["gap_series"]) == (4, 4, 1)
    oi = s.row(1, named=True)
    assert (oi["holdings"], oi["rows"], oi["gap_series"]) == (["open_interest 1h"], 8, 1)
    eth = s.row(2, named=True)
    assert eth["holdings"] == ["candles 1h", "liquidations"]
    assert (eth["rows"], eth["first_ms"], eth["last_ms"]) == (6 + 2, T0, T0 + DAY_MS * 40)
    assert (eth["checked_series"], eth["gap_series"]) == (1, 0)  # liquidations have no spacing to check


def test_footer_describes_one_series_files_and_defers_mixed_ones(small: Lake) -> None:
    spot = small.month_files("candles", "binance", "BTC-USDT-SPOT")[0]
    segs = footer_segments("candles", spot)
    assert segs is not None and [(s.key, s.rows, s.first_ms, s.holes) for s in segs] == [
        (("trade", DAY_MS), 3, JAN_2024, False)
    ]
    oi = small.month_files("open_interest")[0]
    assert [s.holes for s in footer_segments("open_interest", oi) or []] == [True]
    mixed = small.month_files("candles", "binance", "BTC-USDT-PERP")[0]  # 5m and 1h bars interleaved
    assert footer_segments("candles", mixed) is None


def test_selection_filters_partitions(small: Lake) -> None:
    def pairs(sel: Selection) -> set[tuple[str, str, str]]:
        return {(p.record, p.venue, p.canonical) for p in selected_partitions(small, sel)}

    assert {c for _, _, c in pairs(Selection.of(coins=["btc"]))} == {"BTC-USDT-PERP", "BTC-USDT-SPOT"}
    assert pairs(Selection.of(venues=["BYBIT"])) == {("open_interest", "bybit", "BTC-USDT-PERP")}
    assert pairs(Selection.of(records=["liquidations"])) == {("liquidations", "binance", "ETH-USDT-PERP")}
    assert {c for _, _, c in pairs(Selection.of(symbols=["BTCUSDT"]))} == {"BTC-USDT-PERP", "BTC-USDT-SPOT"}
    assert {c for _, _, c in pairs(Selection.of(symbols=["BTC-USDT-SPOT"]))} == {"BTC-USDT-SPOT"}
    assert pairs(Selection.of(coins=["BTC"], records=["liquidations"])) == set()
    s = summary(small, Selection.of(coins=["BTC"], venues=["binance"], records=["candles"]))
    assert s.select("coin", "venue", "holdings").rows() == [("BTC", "binance", ["candles 5m·1h·1d"])]
    assert coin_of("BTC-AGG-PERP") == coin_of("BTC-USDT-SPOT") == "BTC"


def test_coverage_of_equals_coverage_for_the_selection(small: Lake) -> None:
    key = ["record", "venue", "canonical", "series"]
    full = coverage(small).sort(key)
    assert coverage_of(small).drop("sources").sort(key).equals(full)
    btc_binance = coverage_of(small, Selection.of(coins=["BTC"], venues=["binance"]))
    expected = full.filter((pl.col("venue") == "binance") & pl.col("canonical").str.starts_with("BTC-"))
    assert btc_binance.drop("sources").sort(key).equals(expected)
    # series in value order, not text order: 5m before 1h
    candles = btc_binance.filter(pl.col("record") == "candles")
    assert candles.get_column("series").to_list() == ["trade 5m", "trade 1h", "trade 1d"]
    hour = candles.row(1, named=True)
    assert (hour["gaps"], hour["gap_list"]) == (1, [[T0 + 9 * HOUR_MS, T0 + 11 * HOUR_MS]])
    assert btc_binance.get_column("sources").to_list() == [["user"]] * btc_binance.height  # no source given


def test_coverage_of_lists_sources_when_files_carry_them(lake: Lake) -> None:
    df = open_interest(grid(T0, 3, HOUR_MS), HOUR_MS)
    lake.write(OPEN_INTEREST, df, source="archive:binance_metrics")
    later = open_interest(grid(T0 + DAY_MS * 31, 3, HOUR_MS), HOUR_MS)
    lake.write(OPEN_INTEREST, later, source="export:coinglass_oi")
    # a file written before the `source` column existed reads as source "user"
    older = lake.month_files("open_interest")[0]
    pl.read_parquet(older).drop("source").write_parquet(older)
    cov = coverage_of(lake)
    assert cov.get_column("sources").to_list() == [["export:coinglass_oi", "user"]]
    assert cov.get_column("rows").to_list() == [6]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    holes=st.sets(st.integers(min_value=1, max_value=58), max_size=6),
    jitter=st.sampled_from([0, 7]),
)
def test_footer_gap_flag_agrees_with_the_exact_gaps(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, holes: set[int], jitter: int
) -> None:
    monkeypatch.setattr(lake_module, "ROW_GROUP_ROWS", 8)  # many row groups: holes inside and between them
    lk = Lake(tmp_path_factory.mktemp("lake"))
    ts = [t + jitter for t in grid(T0 - DAY_MS * 6 + 20 * HOUR_MS, 60, HOUR_MS, skip=tuple(holes))]
    lk.write(OPEN_INTEREST, open_interest(ts, HOUR_MS))  # crosses a month boundary: two files
    files = lk.month_files("open_interest")
    assert len(files) == 2
    assert all(footer_segments("open_interest", f) is not None for f in files)  # judged from footers
    exact = coverage(lk).row(0, named=True)
    row = summary(lk).row(0, named=True)
    assert row["gap_series"] == int(exact["gaps"] > 0)
    assert row["rows"] == exact["rows"] == len(ts)
    assert (row["first_ms"], row["last_ms"]) == (exact["first_ms"], exact["last_ms"])
