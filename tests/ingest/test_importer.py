"""The importer: whole files or nothing, bad files reported by name, good files in the batch still in."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
from tests.conftest import FIXTURES

from perpscope.ingest.importer import import_paths, iter_files
from perpscope.store import Lake
from perpscope.store.coverage import coverage
from perpscope.store.reader import read

ARCHIVE = FIXTURES / "archive" / "data"
KLINE_5M = ARCHIVE / "futures/um/daily/klines/BTCUSDT/5m"


def test_importing_a_folder_twice_adds_nothing_the_second_time(lake: Lake) -> None:
    first = import_paths([ARCHIVE], lake)
    assert not first.failed, [f.error for f in first.failed]
    added = first.rows_added()
    assert added["candles"] > 0 and added["funding"] > 0 and added["liquidations"] > 0
    second = import_paths([ARCHIVE], lake)
    assert not second.failed
    assert sum(second.rows_added().values()) == 0
    assert second.rows_parsed() == first.rows_parsed()


def test_four_daily_kline_files_give_four_days_of_5m_bars_without_gaps(lake: Lake) -> None:
    files = sorted(KLINE_5M.glob("*.zip"))
    assert len(files) == 4
    import_paths(files, lake)
    cov = coverage(lake).filter(pl.col("record") == "candles")
    row = cov.row(0, named=True)
    assert row["rows"] == 4 * 288 and row["gaps"] == 0
    assert row["last_ms"] - row["first_ms"] == (4 * 288 - 1) * 300_000


def test_a_bad_file_is_reported_and_the_good_ones_still_import(lake: Lake, tmp_path: Path) -> None:
    good = sorted(KLINE_5M.glob("*.zip"))[:2]
    bad_dir = tmp_path / "data/futures/um/daily/klines/BTCUSDT/5m"
    bad_dir.mkdir(parents=True)
    truncated = bad_dir / "BTCUSDT-5m-2025-10-12.zip"
    data = (KLINE_5M / truncated.name).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    unknown = tmp_path / "mystery.csv"
    unknown.write_text("a,b,c\n1,2,3\n")
    report = import_paths([*good, truncated, unknown], lake)
    assert [f.path for f in report.imported] == good
    errors = {f.path.name: f.error for f in report.failed}
    assert str(truncated) in errors[truncated.name] and "truncated" in errors[truncated.name]
    assert "unrecognized file format" in errors["mystery.csv"] and "--mapping" in errors["mystery.csv"]
    stored = read(lake, "candles", symbol="BTCUSDT")
    assert stored.height == 2 * 288  # the two good days, nothing from the broken one


def test_a_file_with_a_bad_row_writes_nothing(lake: Lake, tmp_path: Path, shared_data: Path) -> None:
    src = shared_data / "binance_um_gravestone" / "funding_rate_all_usdtm_perps_20260112_20260320.csv.gz"
    lines = gzip.decompress(src.read_bytes()).decode().splitlines()
    lines[500] = lines[500].rsplit(",", 1)[0] + ",abc"
    bad = tmp_path / "funding_rate_all_usdtm_perps_20260112_20260320.csv"
    bad.write_text("\n".join(lines) + "\n")
    report = import_paths([bad], lake)
    assert len(report.failed) == 1
    assert "row 501" in report.failed[0].error and "'abc'" in report.failed[0].error  # type: ignore[operator]
    assert lake.month_files("funding") == []


def test_not_importable_files_are_skipped_with_the_reason(lake: Lake, shared_data: Path) -> None:
    hl = shared_data / "hyperliquid_official" / "liquidations_2023-02-28_2023-05-01.csv"
    report = import_paths([hl], lake)
    assert not report.failed and len(report.skipped) == 1
    assert "not importable" in (report.skipped[0].skipped or "")


def test_iter_files_skips_checksums_partials_and_hidden_files(tmp_path: Path) -> None:
    for name in ("a.zip", "a.zip.CHECKSUM", "b.zip.part", ".hidden.csv", "c.csv.gz", "README.md"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in iter_files([tmp_path])] == ["a.zip", "c.csv.gz"]


@pytest.mark.slow
def test_the_whole_shared_data_folder_imports(lake: Lake, shared_data: Path) -> None:
    report = import_paths([shared_data], lake)
    assert report.failed == [], [f.error for f in report.failed]
    skipped = sorted(f.path.name for f in report.skipped)
    assert skipped == [
        "coinglass_total_liquidations_snapshots_2025-07-26_2025-08-19.csv.gz",
        "liquidations_2023-02-28_2023-05-01.csv",
        "snapshot_commits.csv",
    ]
    # the 10 Oct 2025 21:00 bar of the Binance perp: low 101,516.5 (SOURCES.md, "known wick")
    bars = read(lake, "candles", venue="binance", symbol="BTCUSDT", where={"interval_ms": 3_600_000})
    wick = bars.filter(pl.col("ts_ms").dt.epoch("ms") == 1760130000000)
    assert wick["low"].to_list() == [101516.5]
    # and the same hour on Binance spot (binance_spot_klines_denniskid, SOURCES.md §13): low 102,000.00
    spot = read(lake, "candles", venue="binance", symbol="BTC-USDT-SPOT", where={"interval_ms": 3_600_000})
    spot_wick = spot.filter(pl.col("ts_ms").dt.epoch("ms") == 1760130000000)
    assert spot_wick.select("low", "volume_base").rows() == [(102000.0, 22932.63034)]
    # CoinGlass Binance BTC liquidations, 2025-10-10 20:00 4h bar: long 235.6 M, short 107.5 M USD
    liq = read(lake, "liquidation_totals", venue="binance", symbol="BTC-AGG-PERP")
    bar = liq.filter(pl.col("ts_ms").dt.epoch("ms") == 1760126400000).row(0, named=True)
    assert round(bar["long_usd"] / 1e6, 1) == 235.6 and round(bar["short_usd"] / 1e6, 1) == 107.5
    # a second pass over everything adds nothing
    again = import_paths([shared_data], lake)
    assert sum(again.rows_added().values()) == 0


def test_batches_close_between_months_and_each_month_file_is_written_once(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With early batch closing from the first row on, daily files of one month still go out in one
    write (their month is buffered), a file of another month closes the batch first, and the store
    holds what one batch of everything gives."""
    import perpscope.ingest.importer as importer

    files = [
        ARCHIVE / "futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2021-05-19.zip",
        *sorted(KLINE_5M.glob("*.zip")),  # four days of 2025-10
        ARCHIVE / "spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-08-05.zip",
    ]
    monkeypatch.setattr(importer, "EARLY_FLUSH_ROWS", 1)
    report = import_paths(files, lake)
    assert not report.failed, [f.error for f in report.failed]
    written = [p for w in report.writes for p in w.files]
    assert len(written) == len(set(written)) == 3  # 2021-05, 2025-10 (four files), 2024-08 (spot)
    assert [w.rows_added for w in report.writes] == [24, 4 * 288, 24]

    monkeypatch.setattr(importer, "EARLY_FLUSH_ROWS", 10**12)
    whole = Lake(tmp_path / "whole")
    one = import_paths(files, whole)
    assert len(one.writes) == 1
    assert (
        read(lake, "candles").sort("ts_ms", "market").equals(read(whole, "candles").sort("ts_ms", "market"))
    )
