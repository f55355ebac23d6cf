"""The store's commit (store/commit.py) under faults: a commit interrupted after its record is finished by
the next reader or writer, one interrupted before it leaves nothing visible, crashed writers'
temporaries are deleted by the next import, and a trade id is stored once across month files."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest
from tests.conftest import FIXTURES

from perpscope.ingest.importer import import_paths
from perpscope.records import TRADES
from perpscope.store import Lake, commit
from perpscope.store.reader import read

LEOPOLDLJ_1H = "binance_um_klines_leopoldlj/BTCUSDT_perp_1h_20191001_20260210.csv.gz"
KLINES_5M = FIXTURES / "archive/data/futures/um/daily/klines/BTCUSDT/5m"
JAN_31_LAST_SECOND = 1_738_367_999_000  # 2025-01-31 23:59:59 UTC
FEB_1_FIRST_SECOND = 1_738_368_000_000  # 2025-02-01 00:00:00 UTC


def trades(ids: list[int], ts: list[int], price: float = 100_000.0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "venue": "binance",
            "symbol": "BTCUSDT",
            "canonical": "BTC-USDT-PERP",
            "market": "perp",
            "ts_ms": ts,
            "trade_id": ids,
            "price": price,
            "qty_base": 0.5,
            "taker_side": "buy",
            "source": "archive:binance_agg_trades",
        }
    )


def test_a_trade_id_is_stored_once_across_a_month_boundary(lake: Lake) -> None:
    lake.write(
        TRADES, trades([1, 2, 3], [JAN_31_LAST_SECOND - 2000, JAN_31_LAST_SECOND - 1000, JAN_31_LAST_SECOND])
    )
    # the venue re-stamps trade 3 a second later, in February: the newer row replaces the January one
    added = lake.write(
        TRADES, trades([3, 4], [FEB_1_FIRST_SECOND, FEB_1_FIRST_SECOND + 1000], price=100_001.0)
    )
    stored = read(lake, TRADES, sources="all")
    assert stored.get_column("trade_id").to_list() == [1, 2, 3, 4]
    assert stored.filter(pl.col("trade_id") == 3).get_column("price").to_list() == [100_001.0]
    assert added.rows_added == 1  # trade 4 is new; trade 3 moved
    assert len(lake.month_files(TRADES)) == 2
    # and within one frame: the last row of an id wins, whichever month the others fall in
    lake.write(TRADES, trades([5, 5], [JAN_31_LAST_SECOND, FEB_1_FIRST_SECOND + 5000]))
    five = read(lake, TRADES, sources="all").filter(pl.col("trade_id") == 5)
    assert five.height == 1 and five.get_column("ts_ms").dt.epoch("ms").item() == FEB_1_FIRST_SECOND + 5000


def test_a_month_file_left_empty_by_moved_trades_is_removed(lake: Lake) -> None:
    lake.write(TRADES, trades([9], [JAN_31_LAST_SECOND]))
    lake.write(TRADES, trades([9], [FEB_1_FIRST_SECOND]))
    assert [p.stem for p in lake.month_files(TRADES)] == ["2025-02"]


def test_a_commit_interrupted_after_its_record_is_finished_by_the_next_reader(
    lake: Lake, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file the probe found at 13,152 of 55,782 rows after a kill: here the kill lands after the
    commit record, with three of its month files renamed."""
    clean = Lake(lake.root.parent / "clean")
    import_paths([shared_data / LEOPOLDLJ_1H], clean)
    real_replace = os.replace
    renamed = []

    def die_after_three(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name != commit.RECORD and len(renamed) == 3:
            raise KeyboardInterrupt("kill -9")  # what a kill leaves: no cleanup runs after this point
        real_replace(src, dst)
        if Path(dst).name != commit.RECORD:
            renamed.append(dst)

    monkeypatch.setattr(commit.os, "replace", die_after_three)
    with pytest.raises(KeyboardInterrupt):
        import_paths([shared_data / LEOPOLDLJ_1H], lake)
    monkeypatch.undo()
    assert commit.pending(lake.root)
    visible_before = len(list(lake.root.rglob("*.parquet")))
    assert visible_before == 3  # on disk, before anyone recovers: three month files of 77
    fresh = Lake(lake.root)  # a new process: a reader
    got = read(fresh, "candles", sources="all")
    assert not commit.pending(lake.root)
    assert got.height > 50_000 and got.equals(read(clean, "candles", sources="all"))  # the whole file


def test_a_write_that_fails_before_its_commit_leaves_nothing(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = sorted(KLINES_5M.glob("*.zip"))
    import_paths(files[:1], lake)
    before = read(lake, "candles", sources="all")

    def boom(*_: object, **__: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(commit, "apply", boom)
    with pytest.raises(OSError, match="disk full"):
        import_paths(files[1:], lake)
    monkeypatch.undo()
    assert read(lake, "candles", sources="all").equals(before)
    assert [p for p in lake.root.rglob("*") if commit.TMP_MARK in p.name] == []  # discarded


def test_temporaries_of_crashed_writers_are_deleted_by_the_next_import(lake: Lake) -> None:
    files = sorted(KLINES_5M.glob("*.zip"))
    import_paths(files[:1], lake)
    month = lake.month_files("candles")[0]
    stray = [
        month.with_name(f".{month.name}{commit.TMP_MARK}4242-deadbeef"),
        lake.root / f"{commit.RECORD}{commit.TMP_MARK}4242",
    ]
    for s in stray:
        s.write_bytes(b"PAR1" + b"\0" * 1000)
    report = import_paths(files[1:2], lake)
    assert report.recovery.temporaries_removed == 2 and report.recovery.bytes_removed == 2008
    assert not any(s.exists() for s in stray)
