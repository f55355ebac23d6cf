"""Sources, not import order: two sources of one fact are both kept and combined by precedence."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from tests.store.test_lake import T0, candles

from perpscope.core.time import MINUTE_MS
from perpscope.records import CANDLES, LIQUIDATION_TOTALS, source_rank
from perpscope.store import Lake
from perpscope.store.reader import duckdb_connection, read


def _archive_and_export() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The same 12 bars from an exchange archive without taker columns and an export with them."""
    base = candles(12).with_columns(
        pl.lit(2.0).alias("volume_base"), (pl.col("close") * 2.0).alias("volume_quote")
    )
    archive = base.with_columns(
        pl.lit(None, pl.Float64).alias("taker_buy_base"), pl.lit(None, pl.Float64).alias("taker_buy_quote")
    )
    # the export's close differs on one bar: the archive must win there, the export fills taker flow
    export = base.with_columns(
        pl.when(pl.int_range(pl.len()) == 3)
        .then(pl.col("close") + 0.5)
        .otherwise(pl.col("close"))
        .alias("close"),
        (pl.col("volume_base") * 0.4).alias("taker_buy_base"),
        (pl.col("volume_quote") * 0.4).alias("taker_buy_quote"),
    )
    return archive, export


def _filled(root: Path, order: list[tuple[pl.DataFrame, str]]) -> Lake:
    lk = Lake(root)
    for frame, source in order:
        lk.write(CANDLES, frame, source=source)
    return lk


def test_precedence_ranks_archive_over_rest_over_export() -> None:
    assert source_rank("archive:binance_klines") > source_rank("rest:binance") > source_rank("export:x")
    assert source_rank("stream:okx") == source_rank("rest:okx")
    assert source_rank("user") < source_rank("export:x")


def test_a_source_never_erases_a_column_another_filled_and_order_does_not_matter(tmp_path: Path) -> None:
    archive, export = _archive_and_export()
    a = _filled(tmp_path / "a", [(archive, "archive:binance_klines"), (export, "export:some_dump")])
    b = _filled(tmp_path / "b", [(export, "export:some_dump"), (archive, "archive:binance_klines")])
    ra, rb = read(a, "candles", symbol="BTCUSDT"), read(b, "candles", symbol="BTCUSDT")
    assert ra.equals(rb)
    assert ra.height == 12
    # taker flow from the export (the archive has none), prices from the archive where they differ
    assert ra["taker_buy_quote"].to_list() == export["taker_buy_quote"].to_list()
    assert ra["close"].to_list() == archive["close"].to_list()
    assert set(ra["source"]) == {"archive:binance_klines"}
    # both sources' rows stay in the store, and the month files are byte-for-byte the same
    assert read(a, "candles", symbol="BTCUSDT", sources="all").height == 24
    fa = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.parquet"))
    assert fa == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.parquet"))
    for f in fa:
        assert pl.read_parquet(tmp_path / "a" / f).equals(pl.read_parquet(tmp_path / "b" / f))


def test_two_exports_of_equal_rank_resolve_by_name_not_by_import_order(tmp_path: Path) -> None:
    tot = pl.DataFrame(
        {
            "venue": "binance+bybit+okx",
            "symbol": "BTC",
            "canonical": "BTC-AGG-PERP",
            "interval_ms": 60 * MINUTE_MS,
            "ts_ms": [T0, T0 + 60 * MINUTE_MS],
            "long_usd": [100.0, 200.0],
            "short_usd": [10.0, 20.0],
        }
    )
    other = tot.with_columns(pl.col("long_usd") * 1.07)
    lk1, lk2 = Lake(tmp_path / "1"), Lake(tmp_path / "2")
    lk1.write(LIQUIDATION_TOTALS, tot, source="export:b_file")
    lk1.write(LIQUIDATION_TOTALS, other, source="export:a_file")
    lk2.write(LIQUIDATION_TOTALS, other, source="export:a_file")
    lk2.write(LIQUIDATION_TOTALS, tot, source="export:b_file")
    r1 = read(lk1, "liquidation_totals", venue="binance+bybit+okx", symbol="BTC-AGG-PERP")
    r2 = read(lk2, "liquidation_totals", venue="binance+bybit+okx", symbol="BTC-AGG-PERP")
    assert r1.equals(r2)
    assert r1["source"].to_list() == ["export:b_file"] * 2  # equal rank: the name sorting last wins
    assert r1["long_usd"].to_list() == pytest.approx([100.0, 200.0])


def test_a_revision_from_the_same_source_replaces_its_own_row(tmp_path: Path) -> None:
    lk = Lake(tmp_path)
    archive, _ = _archive_and_export()
    lk.write(CANDLES, archive, source="rest:binance")
    lk.write(CANDLES, archive.with_columns(pl.col("close") + 1), source="rest:binance")
    got = read(lk, "candles", symbol="BTCUSDT", sources="all")
    assert got.height == 12
    assert got["close"].to_list() == (archive["close"] + 1).to_list()


def test_a_store_written_before_the_source_column_reads_and_merges(tmp_path: Path) -> None:
    lk = Lake(tmp_path)
    archive, export = _archive_and_export()
    lk.write(CANDLES, archive)
    # rewrite the month file without the column, as a store from before it would hold
    (f,) = lk.month_files("candles")
    pl.read_parquet(f).drop("source").write_parquet(f)
    old = read(lk, "candles", symbol="BTCUSDT")
    assert old.height == 12 and set(old["source"]) == {"user"}
    lk.write(CANDLES, export, source="export:some_dump")  # merging into the old file works too
    both = read(lk, "candles", symbol="BTCUSDT")
    assert both.height == 12
    assert both["taker_buy_quote"].is_not_null().all()
    n = duckdb_connection(lk).execute("SELECT count(*), count(DISTINCT source) FROM candles").fetchone()
    assert n == (24, 2)
