"""The lake on object storage, against a real S3 server on loopback (moto): the same rows as the local
lake through the same readers, idempotent writes, invisible uncommitted parts, racing writers."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import polars as pl
from tests.store.small_store import JAN_2024, T0, bars, fill_small, grid

from perpscope.core.time import DAY_MS, HOUR_MS, MINUTE_MS
from perpscope.records import CANDLES, TRADES
from perpscope.store import Lake, open_lake
from perpscope.store.object_lake import MANIFESTS, ObjectLake
from perpscope.store.reader import duckdb_connection, read


def _every_partition(lk: Lake) -> dict[tuple[str, str, str], pl.DataFrame]:
    return {
        (name, v, c): read(lk, name, venue=v, symbol=c, sources="all")
        for name in lk.records_present()
        for v, c in lk.partitions(name)
    }


def _manifests(lk: ObjectLake, record: str, venue: str, canonical: str) -> list[str]:
    return lk.fs.ls(str(lk.partition_dir(record, venue, canonical) / MANIFESTS), detail=False, refresh=True)


def test_object_lake_holds_what_the_local_lake_holds(s3_lake_url: str, tmp_path: Path) -> None:
    remote = open_lake(s3_lake_url)
    assert isinstance(remote, ObjectLake)
    local = fill_small(Lake(tmp_path / "data"))
    fill_small(remote)
    assert remote.records_present() == local.records_present()
    mine, theirs = _every_partition(remote), _every_partition(local)
    assert sorted(mine) == sorted(theirs)
    for key, frame in theirs.items():
        assert mine[key].equals(frame), key
    # a time range is cut the same way (month pruning by the part's name, then rows)
    lo, hi = T0 + 3 * HOUR_MS, T0 + 30 * HOUR_MS
    assert read(remote, "candles", venue="binance", symbol="BTCUSDT", start_ms=lo, end_ms=hi).equals(
        read(local, "candles", venue="binance", symbol="BTCUSDT", start_ms=lo, end_ms=hi)
    )
    # DuckDB reads the objects in place, through the manifests (as many rows as the local files)
    q = "SELECT count(*), sum(close) FROM candles"
    assert duckdb_connection(remote).execute(q).fetchall() == duckdb_connection(local).execute(q).fetchall()


def test_rewriting_adds_nothing_and_commits_nothing(s3_lake_url: str) -> None:
    lk = ObjectLake(s3_lake_url)
    frame = bars(grid(T0, 48, HOUR_MS), HOUR_MS)
    first = lk.write(CANDLES, frame)
    assert (first.rows_in, first.rows_added) == (48, 48)
    before = _manifests(lk, "candles", "binance", "BTC-USDT-PERP")
    again = lk.write(CANDLES, frame)
    assert again.rows_added == 0
    assert _manifests(lk, "candles", "binance", "BTC-USDT-PERP") == before
    # a revised value replaces the stored one (the newest write wins), as in the local lake
    revised = frame.head(1).with_columns(pl.lit(9.0).alias("close"))
    assert lk.write(CANDLES, revised).rows_added == 0
    got = read(lk, "candles", venue="binance", symbol="BTC-USDT-PERP")
    assert got.height == 48
    assert got.get_column("close").to_list() == [9.0] + [1.5] * 47


def test_uploaded_parts_are_invisible_until_a_manifest_names_them(s3_lake_url: str) -> None:
    """A writer that dies between its uploads and its manifest put leaves nothing a reader sees."""
    lk = ObjectLake(s3_lake_url)
    lk.write(CANDLES, bars(grid(T0, 24, HOUR_MS), HOUR_MS))
    d = lk.partition_dir(CANDLES, "binance", "BTC-USDT-PERP")
    stray = lk.put_part(d, "2025-10", bars(grid(T0, 5, MINUTE_MS), MINUTE_MS).pipe(CANDLES.conform))
    assert read(lk, "candles").height == 24
    assert lk.recover().temporaries_removed == 0  # young: it may be a writer's upload in flight
    report = lk.recover(grace_ms=0)
    assert report.temporaries_removed == 1 and report.bytes_removed > 0
    assert not lk.fs.exists(str(d / stray))
    assert read(lk, "candles").height == 24


def test_racing_writers_into_one_month_lose_no_row(s3_lake_url: str) -> None:
    """Writers with their own connections commit disjoint rows of one month file at the same time: the
    conditional manifest put makes every loser merge again on top of the winner."""
    n_writers, rounds, per = 3, 4, 6
    errors: list[BaseException] = []
    start = threading.Barrier(n_writers)

    def writer(w: int) -> None:
        lk = ObjectLake(s3_lake_url)
        try:
            start.wait()
            for r in range(rounds):
                first = T0 + ((w * rounds + r) * per) * HOUR_MS
                lk.write(CANDLES, bars(grid(first, per, HOUR_MS), HOUR_MS))
        except BaseException as e:  # reported below: a thread's exception would be lost
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(n_writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    lk = ObjectLake(s3_lake_url)
    got = read(lk, "candles", venue="binance", symbol="BTC-USDT-PERP")
    want = grid(T0, n_writers * rounds * per, HOUR_MS)
    assert got.get_column("ts_ms").dt.epoch("ms").to_list() == want
    # every write that added rows made exactly one commit
    assert len(_manifests(lk, "candles", "binance", "BTC-USDT-PERP")) == n_writers * rounds


def test_a_trade_restamped_across_months_is_kept_once(s3_lake_url: str) -> None:
    lk = ObjectLake(s3_lake_url)
    base = {"venue": "binance", "symbol": "BTCUSDT", "canonical": "BTC-USDT-PERP", "market": "perp"}
    trade = {**base, "trade_id": 7, "price": 1.0, "qty_base": 1.0, "taker_side": "buy"}
    end_of_jan = JAN_2024 + 31 * DAY_MS - 1
    lk.write(TRADES, pl.DataFrame([{**trade, "ts_ms": end_of_jan}]))
    lk.write(TRADES, pl.DataFrame([{**trade, "ts_ms": end_of_jan + 2, "price": 2.0}]))  # now February
    got = read(lk, TRADES)
    assert got.height == 1
    assert got.get_column("price").to_list() == [2.0]
    assert [f.name[:7] for f in lk.month_files(TRADES)] == ["2024-02"]


def test_data_dir_s3_imports_and_shows_what_a_local_folder_does(
    s3_lake_url: str, shared_data: Path, tmp_path: Path
) -> None:
    """``--data-dir s3://…``: the README's import and the metrics command, output equal to a folder's."""
    from typer.testing import CliRunner

    from perpscope.cli.main import app

    real = str(shared_data / "binance_um_klines_leopoldlj" / "BTCUSDT_perp_5m_20251006_20251015.csv.gz")
    outputs = []
    for where in (s3_lake_url, str(tmp_path / "data")):
        r = CliRunner().invoke(app, ["--data-dir", where, "import", real])
        assert r.exit_code == 0, r.output
        assert "0 failed" in r.output, r.output
        r = CliRunner().invoke(
            app, ["--data-dir", where, "metrics", "BTCUSDT", "--every", "1h", "--format", "csv"]
        )
        assert r.exit_code == 0, r.output
        outputs.append(r.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].count("\n") > 200  # 9 days of hourly bars


def test_store_info_on_a_folder_and_on_s3(s3_lake_url: str, tmp_path: Path, monkeypatch: Any) -> None:
    """``store info`` summarizes a folder (and caches the summary there) and an ``s3://`` lake of the same
    rows alike; the S3 lake's cache goes to this machine's folder for it, not into the bucket nor the
    working directory. The same on real market data: tests/cluster/test_commands_on_s3.py."""
    from typer.testing import CliRunner

    from perpscope.cli.main import app
    from perpscope.store.location import STATE_ENV
    from perpscope.store.segment_cache import CACHE_NAME

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    folder = tmp_path / "data"
    fill_small(Lake(folder))
    fill_small(open_lake(s3_lake_url))
    for args in ([], ["--details"], ["--json"]):
        here = CliRunner().invoke(
            app, ["--data-dir", str(folder), "store", "info", *args], env={"COLUMNS": "200"}
        )
        assert here.exit_code == 0, here.output
        assert "BTC" in here.stdout and "binance" in here.stdout
        there = CliRunner().invoke(
            app, ["--data-dir", s3_lake_url, "store", "info", *args], env={"COLUMNS": "200"}
        )
        assert there.exit_code == 0, there.output
        assert there.stdout.replace(s3_lake_url, "<store>") == here.stdout.replace(str(folder), "<store>")
    side = tmp_path / "state" / "s3" / s3_lake_url.split("://", 1)[1]
    assert sorted(p.parent for p in tmp_path.rglob(CACHE_NAME)) == sorted([folder, side])
