"""Row groups encoded as files of their own and joined (:mod:`perpscope.store.parquet_stitch`): byte for
byte the file one writer makes, or nothing.

Rows are Binance's real aggTrades of BTCUSDT perp on 2025-01-27 (``tests/fixtures/archive``, 31 trades)
and four days of its 5-minute klines (1,152 bars); row groups are made small (4 trades, 100 bars) so
the rows span many of them, as a month of two million trades spans eight of 262,144.
"""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import FIXTURES

from perpscope.ingest.importer import import_paths
from perpscope.records import CANDLES, TRADES, RecordType
from perpscope.store import Lake, parquet_stitch
from perpscope.store import lake as lake_module
from perpscope.store.lake import MonthEncoder, write_parquet

ARCHIVE = FIXTURES / "archive" / "data" / "futures/um/daily"
#: Rows per row group in these tests, per record.
GROUPS = {"trades": 4, "candles": 100}
#: Rows per row group where the month encoder decides from the first group: the day's first 14 trades
#: are sells, and a first group of sells alone has a one-valued ``taker_side`` (then stored as a
#: one-entry dictionary, so the month is not encoded ahead when buys follow).
ENCODER_GROUPS = {"trades": 15, "candles": 100}


def _small_groups(monkeypatch: pytest.MonkeyPatch, which: str, groups: dict[str, int] = GROUPS) -> int:
    """Row groups of a few rows, written by pyarrow from that many rows on (as a big month is)."""
    group = groups[which]
    monkeypatch.setattr(lake_module, "ROW_GROUP_ROWS", group)
    monkeypatch.setattr(lake_module, "PYARROW_FROM_ROWS", group)
    return group


def _stored(tmp_path: Path, files: list[Path], record: str) -> pl.DataFrame:
    lake = Lake(tmp_path / record)
    report = import_paths(files, lake)
    assert not report.failed
    return pl.concat([pl.read_parquet(p) for p in lake.month_files(record)])


@pytest.fixture
def trades(tmp_path: Path) -> pl.DataFrame:
    return _stored(tmp_path, sorted((ARCHIVE / "aggTrades/BTCUSDT").glob("*.zip")), "trades")


@pytest.fixture
def candles(tmp_path: Path) -> pl.DataFrame:
    return _stored(tmp_path, sorted((ARCHIVE / "klines/BTCUSDT/5m").glob("*.zip")), "candles")


def _whole(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    write_parquet(df, buf)
    return buf.getvalue()


def _apart(df: pl.DataFrame, cuts: list[int], group: int, **changes: object) -> list[bytes]:
    """``df``'s rows cut at ``cuts``, each part written as a file of its own with the options
    :func:`write_parquet` takes for the whole frame (``changes`` overriding some)."""
    options = {**lake_module._pyarrow_options(df), **changes}
    one_value = lake_module._one_values(df)
    out = []
    for lo, hi in zip([0, *cuts], [*cuts, df.height], strict=True):
        table = lake_module._arrow_table(df.slice(lo, hi - lo), one_value)
        buf = io.BytesIO()
        pq.write_table(table, buf, row_group_size=group, **options)  # type: ignore[arg-type]
        out.append(buf.getvalue())
    return out


def _footer(data: bytes) -> bytes:
    size = int.from_bytes(data[-8:-4], "little")
    return data[-8 - size : -8]


@pytest.mark.parametrize("which", ["trades", "candles"])
def test_a_footer_reads_and_writes_back_byte_for_byte(
    which: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    df: pl.DataFrame = request.getfixturevalue(which)
    group = _small_groups(monkeypatch, which)
    footer = _footer(_whole(df))
    fields = parquet_stitch.decode(footer)
    assert parquet_stitch.encode(fields) == footer
    # the row count and row groups are where the stitcher looks for them
    rows = next(f for f in fields if f.fid == 3)
    groups = next(f for f in fields if f.fid == 4)
    assert rows.value == df.height
    assert isinstance(groups.value, parquet_stitch.List) and len(groups.value.items) == -(-df.height // group)


@pytest.mark.parametrize("which", ["trades", "candles"])
def test_row_groups_written_apart_and_joined_are_the_file_written_whole(
    which: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    df: pl.DataFrame = request.getfixturevalue(which)
    group = _small_groups(monkeypatch, which)
    assert df.height > 5 * group and df.height % group  # many groups, the last one shorter
    # one group per file, several per file, and a last short group, as the month encoder makes them
    for cuts in ([group * i for i in range(1, -(-df.height // group))], [3 * group, 4 * group]):
        files = _apart(df, cuts, group)
        joined = parquet_stitch.stitch(list(files))
        assert joined is not None
        data = b"".join(joined)
        assert data == _whole(df)
        # the files taken apart first (by the threads that wrote them) join alike
        taken = [parquet_stitch.split(f) for f in files]
        assert all(t is not None for t in taken)
        again = parquet_stitch.stitch([t for t in taken if t is not None])
        assert again is not None and b"".join(again) == data
        assert pl.read_parquet(io.BytesIO(data)).equals(df)
        assert pq.read_table(pa.BufferReader(data)).num_rows == df.height


def test_files_not_written_alike_are_not_joined(
    trades: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = _small_groups(monkeypatch, "trades")
    cut = 3 * group
    first = _apart(trades.slice(0, cut), [], group)
    # another schema (a column less)
    other = _apart(trades.slice(cut).drop("taker_side"), [], group)
    assert parquet_stitch.stitch(first + other) is None
    # page indexes are written after the last row group, not in a file's body
    indexed = _apart(trades, [cut], group, write_page_index=True)
    assert parquet_stitch.stitch(indexed) is None
    # not Parquet at all, or a truncated file
    assert parquet_stitch.stitch([b"PAR1 not a footer PAR1"]) is None
    assert parquet_stitch.stitch([first[0][:-3]]) is None
    assert parquet_stitch.split(first[0][:-3]) is None
    assert parquet_stitch.stitch([]) is None


@pytest.mark.parametrize(("which", "record"), [("trades", TRADES), ("candles", CANDLES)])
def test_a_month_encoded_on_a_pool_and_sealed_is_the_file_written_whole(
    which: str, record: RecordType, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    df: pl.DataFrame = request.getfixturevalue(which)
    group = _small_groups(monkeypatch, which, ENCODER_GROUPS)
    threads: set[str] = set()
    piece = MonthEncoder._piece

    def spy(self: MonthEncoder, rows: pl.DataFrame) -> object:
        threads.add(threading.current_thread().name)
        return piece(self, rows)

    monkeypatch.setattr(MonthEncoder, "_piece", spy)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="enc") as pool:
        enc = MonthEncoder(record, pool)
        half = df.height // 2 + 1  # a cut inside a row group
        enc.feed(df.slice(0, half))
        enc.feed(df.slice(half))
        assert enc.rows_encoded == df.height // group * group
        enc.seal()  # the last, shorter group goes to the pool too
        assert enc.rows_encoded == df.height
        data = enc.finish(df)
    assert data == _whole(df)
    assert threads and all(t.startswith("enc") for t in threads)


def test_rows_fed_after_the_seal_give_no_file(trades: pl.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    group = _small_groups(monkeypatch, "trades", ENCODER_GROUPS)
    enc = MonthEncoder(TRADES)
    enc.feed(trades.slice(0, group + 5))
    enc.seal()
    assert enc.rows_encoded == group + 5
    enc.feed(trades.slice(group + 5, 5))
    assert enc.abandoned and enc.finish(trades.head(group + 10)) is None
    # rows written after the sealed short group (never fed): the whole write cuts its groups
    # elsewhere, so nothing encoded ahead is used
    sealed = MonthEncoder(TRADES)
    sealed.feed(trades.slice(0, group + 5))
    sealed.seal()
    assert sealed.finish(trades.head(group + 10)) is None
    assert pl.read_parquet(io.BytesIO(_whole(trades.head(group + 10)))).equals(trades.head(group + 10))
    # a month of less than one row group is left to the whole write, sealed or not
    small = MonthEncoder(TRADES)
    small.feed(trades.slice(0, group - 1))
    small.seal()
    assert small.rows_encoded == 0 and small.finish(trades.head(group - 1)) is None


def test_the_encoded_instants_are_compared_across_chunks_and_groups(trades: pl.DataFrame) -> None:
    """``finish`` confirms the written rows are the ones encoded by their instants, compared on the
    column's chunks against each group's instants wherever the two are cut."""
    from perpscope.store.lake import _same_instants

    ts = trades.get_column("ts_ms")
    chunked = pl.concat([ts.slice(0, 7), ts.slice(7, 13), ts.slice(20)], rechunk=False)
    assert chunked.n_chunks() == 3
    values = ts.to_physical().to_numpy()
    groups = [values[:4], values[4:15], values[15:]]
    assert _same_instants(chunked, groups)
    assert not _same_instants(chunked.head(30), groups)  # fewer rows written than encoded
    assert not _same_instants(chunked, [*groups, values[:1]])
    assert not _same_instants(chunked, groups[:2])  # more rows than encoded
    changed = values.copy()
    changed[17] += 1
    assert not _same_instants(chunked, [changed[:4], changed[4:15], changed[15:]])
