"""The append-only write path: live parts beside month files, read with the store's dedupe rule, folded
by compaction. Property: any interleaving of appends, imports (``Lake.write``) and compactions reads
as one write of all the rows in the same order."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpscope.core.time import MINUTE_MS
from perpscope.records import CANDLES, TRADES
from perpscope.store import Lake
from perpscope.store.coverage import coverage, coverage_of
from perpscope.store.parts import compact, is_part, parts_by_month
from perpscope.store.reader import duckdb_connection, read
from perpscope.store.selection import Selection
from perpscope.store.summary import summary

#: 2025-09-30 23:00 UTC: slots of 5 minutes from here straddle a month boundary
T0 = 1759273200000
SLOTS = 24


def bars(slots: list[int], closes: list[float], canonical: str = "BTC-USDT-PERP") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "venue": "binance",
            "symbol": canonical.replace("-PERP", "").replace("-", ""),
            "canonical": canonical,
            "market": "perp",
            "price_type": "trade",
            "interval_ms": 5 * MINUTE_MS,
            "ts_ms": [T0 + s * 5 * MINUTE_MS for s in slots],
            "open": closes,
            "high": [c + 1 for c in closes],
            "low": [c - 1 for c in closes],
            "close": closes,
        }
    )


def trades(ids: list[int], prices: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "venue": "binance",
            "symbol": "BTCUSDT",
            "canonical": "BTC-USDT-PERP",
            "market": "perp",
            # one trade's time is fixed by its id (a venue never re-stamps a trade)
            "ts_ms": [T0 + i * 7 * MINUTE_MS for i in ids],
            "trade_id": ids,
            "price": prices,
            "qty_base": [0.5] * len(ids),
            "taker_side": ["buy" if i % 2 else "sell" for i in ids],
        }
    )


batch = st.lists(
    st.tuples(
        st.integers(0, SLOTS - 1), st.integers(1, 9), st.sampled_from(["BTC-USDT-PERP", "ETH-USDT-PERP"])
    ),
    min_size=1,
    max_size=12,
)
step = st.one_of(
    st.tuples(st.just("append"), batch),
    st.tuples(st.just("write"), batch),
    st.tuples(st.just("compact"), st.just([])),
    st.tuples(st.just("compact-parts"), st.just([])),  # the collector's way: parts into one part
)


def _frames(rows: list[tuple[int, int, str]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    candle = pl.concat([bars([s], [float(c)], canonical) for s, c, canonical in rows], how="vertical")
    trade = trades([s for s, _, _ in rows], [float(c) for _, c, _ in rows])
    return candle, trade


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=6))
def test_any_interleaving_of_flushes_and_compactions_reads_as_one_write(
    tmp_path_factory: object, steps: list[tuple[str, list[tuple[int, int, str]]]]
) -> None:
    root = Path(tmp_path_factory.mktemp("parts"))  # type: ignore[attr-defined]
    lake, one = Lake(root / "live"), Lake(root / "one")
    all_candles, all_trades = [], []
    for kind, rows in steps:
        if kind == "compact":
            lake.compact()
            continue
        if kind == "compact-parts":
            compact(lake, into_month=False)
            continue
        candle, trade = _frames(rows)
        all_candles.append(candle)
        all_trades.append(trade)
        write = lake.append if kind == "append" else lake.write
        write(CANDLES, candle)
        write(TRADES, trade)
    if not all_candles:
        return
    one.write(CANDLES, pl.concat(all_candles))
    one.write(TRADES, pl.concat(all_trades))
    for record in ("candles", "trades"):
        got, want = read(lake, record), read(one, record)
        assert got.equals(want), record
        # a filter on a column the newest write changed sees the newest row only
        closes = want.get_column("price" if record == "trades" else "close")
        where = {"price" if record == "trades" else "close": closes[0]}
        assert read(lake, record, where=where).equals(read(one, record, where=where))
        order = "trade_id" if record == "trades" else "ts_ms"
        sql = f"SELECT * FROM {record} ORDER BY ts_ms, canonical, {order}"
        assert duckdb_connection(lake).sql(sql).pl().equals(duckdb_connection(one).sql(sql).pl())
    assert coverage(lake).equals(coverage(one))
    assert coverage_of(lake).equals(coverage_of(one))
    assert summary(lake).equals(summary(one))
    lake.compact()
    assert not any(is_part(p) for p in lake.root.rglob("*.parquet"))
    for record in ("candles", "trades"):
        assert read(lake, record).equals(read(one, record))


def test_append_writes_parts_and_leaves_the_month_file_alone(lake: Lake) -> None:
    lake.write(CANDLES, bars(list(range(SLOTS)), [1.0] * SLOTS))
    month = lake.partition_dir(CANDLES, "binance", "BTC-USDT-PERP") / "2025-10.parquet"
    before = month.stat().st_mtime_ns
    res = lake.append(CANDLES, bars([13, 14], [5.0, 6.0]))
    assert month.stat().st_mtime_ns == before
    assert [is_part(p) for p in res.files] == [True]
    assert parts_by_month(month.parent) == {month: list(res.files)}
    back = read(lake, "candles").filter(pl.col("ts_ms").dt.epoch("ms") >= T0 + 13 * 5 * MINUTE_MS)
    assert back.get_column("close").to_list()[:2] == [5.0, 6.0]
    assert read(lake, "candles").height == SLOTS


def test_an_import_wins_over_older_parts_and_folds_them(lake: Lake) -> None:
    lake.append(CANDLES, bars([13], [5.0]))
    lake.append(CANDLES, bars([13], [6.0]))
    lake.write(CANDLES, bars([13], [7.0]))  # the import is the newest write
    assert read(lake, "candles").get_column("close").to_list() == [7.0]
    assert not any(is_part(p) for p in lake.root.rglob("*.parquet"))


def test_compaction_keeps_parts_written_after_its_merge_began(lake: Lake) -> None:
    from perpscope.store import parts

    lake.append(CANDLES, bars([13], [5.0]))
    real = parts.merged_month

    def merge_then_flush(*args: object) -> pl.DataFrame | None:
        out = real(*args)  # type: ignore[arg-type]
        lake.append(CANDLES, bars([13, 14], [8.0, 9.0]))  # a live flush lands during the merge
        return out

    parts.merged_month = merge_then_flush  # type: ignore[assignment]
    try:
        done = lake.compact()
    finally:
        parts.merged_month = real  # type: ignore[assignment]
    assert done.parts == 1
    assert read(lake, "candles").get_column("close").to_list() == [8.0, 9.0]
    month = lake.partition_dir(CANDLES, "binance", "BTC-USDT-PERP") / "2025-10.parquet"
    assert len(parts_by_month(month.parent)[month]) == 1  # the late flush's part, newer than the fold


def test_month_files_lists_the_month_file_before_its_parts(lake: Lake) -> None:
    lake.append(CANDLES, bars([13], [5.0]))
    lake.write(TRADES, trades([1], [1.0]))
    lake.append(CANDLES, bars([14], [5.0]))
    lake.write(CANDLES, bars([15], [5.0]))
    lake.append(CANDLES, bars([16, 17], [5.0, 5.0]))
    names = [p.name for p in lake.month_files("candles")]
    assert names[0] == "2025-10.parquet" and all(is_part(n) for n in names[1:]) and len(names) == 2
    assert read(lake, "candles").height == 5


def test_on_the_users_store_live_parts_read_as_the_same_rows_written_the_import_way(
    shared_store: Path, tmp_path: Path
) -> None:
    """The store built the README way from ../shared/data, plus a live hour: the newest BTC 5m bars
    revised (a bar closing after it was first written) and the recorded liquidations of its last day
    sent again with one more of each; flushed as parts in three flushes, or written by one import."""
    import shutil

    from perpscope.records import LIQUIDATIONS

    live, one = Lake(tmp_path / "live"), Lake(tmp_path / "one")
    shutil.copytree(shared_store, live.root)
    shutil.copytree(shared_store, one.root)
    bars_ = read(
        live, "candles", venue="binance", symbol="BTC-USDT-PERP", where={"interval_ms": 5 * MINUTE_MS}
    )
    assert bars_.height > 1000  # the recorded BTC 5m bars
    revised = bars_.tail(300).with_columns((pl.col("close") * 1.001).alias("close")).drop("source")
    liqs = read(live, "liquidations")
    last_day = liqs.filter(pl.col("ts_ms") >= pl.col("ts_ms").max() - pl.duration(days=1))
    assert last_day.height > 10
    more = pl.concat([last_day, last_day.with_columns(pl.col("qty_base") * 2)]).drop("source")
    for chunk in range(3):  # three flushes
        live.append(CANDLES, revised.gather_every(3, chunk), source="stream:binance")
        live.append(LIQUIDATIONS, more.gather_every(3, chunk), source="stream:binance")
    one.write(CANDLES, pl.concat([revised.gather_every(3, c) for c in range(3)]), source="stream:binance")
    one.write(LIQUIDATIONS, pl.concat([more.gather_every(3, c) for c in range(3)]), source="stream:binance")
    assert any(is_part(p) for p in live.root.rglob("*.parquet"))
    for record, sym in (("candles", "BTC-USDT-PERP"), ("liquidations", None)):
        got = read(live, record, symbol=sym, sources="all")
        assert got.equals(read(one, record, symbol=sym, sources="all")), record
    assert read(live, "candles", symbol="BTCUSDT").equals(read(one, "candles", symbol="BTCUSDT"))
    assert summary(live).equals(summary(one))
    btc = Selection.of(coins=["BTC"])
    assert coverage_of(live, btc).equals(coverage_of(one, btc))
    sql = "SELECT * FROM liquidations ORDER BY ALL"  # rows, not sums: a sum's last digits follow its order
    assert duckdb_connection(live).sql(sql).pl().equals(duckdb_connection(one).sql(sql).pl())
    live.compact()
    assert read(live, "liquidations", sources="all").equals(read(one, "liquidations", sources="all"))


def test_the_collectors_compaction_folds_parts_into_one_part_while_the_month_file_is_large(
    lake: Lake,
) -> None:
    lake.write(CANDLES, bars(list(range(13, SLOTS)), [1.0] * (SLOTS - 13)))
    month = lake.partition_dir(CANDLES, "binance", "BTC-USDT-PERP") / "2025-10.parquet"
    before = month.stat().st_mtime_ns
    lake.append(CANDLES, bars([13], [5.0]))
    lake.append(CANDLES, bars([13, 14], [6.0, 7.0]))
    last = lake.append(CANDLES, bars([15], [8.0])).files[0]
    done = compact(lake, into_month=False)
    assert done.parts == 3
    assert month.stat().st_mtime_ns == before  # the month file was not rewritten
    (folded,) = parts_by_month(month.parent)[month]
    assert folded.name.split("-")[2] == last.name.split("-")[2]  # it stands where the newest part stood
    assert read(lake, "candles").get_column("close").to_list()[:3] == [6.0, 7.0, 8.0]
    lake.append(CANDLES, bars([13], [9.0]))  # a later flush still wins
    assert read(lake, "candles").get_column("close").to_list()[0] == 9.0
