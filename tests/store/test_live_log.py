"""The live collector's write-ahead log (:mod:`perpscope.store.live_log`): committed batches are seen by
every reader (rows, SQL, coverage, the store summary) with the store's dedupe rule; a torn tail is
ignored on read and cut off on recovery; sealing into parts and compaction change nothing a reader sees.

Property: any interleaving of log appends, seals, collector sessions that die without sealing (their
logs sealed by the next session, as :class:`~perpscope.ingest.live.Collector` does on start) and
compactions reads as one :meth:`Lake.write` of all the rows in the same order. Other writers of the
same keys (imports, a collector writing parts) are left out: the log's rows win over whatever was
written before their seal (the documented precedence; live rows carry a ``stream:`` source that no
import writes).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.store.test_parts import SLOTS, _frames, bars, trades

from perpscope.core.errors import StoreError
from perpscope.records import CANDLES, TRADES
from perpscope.store import Lake
from perpscope.store.coverage import coverage, coverage_of
from perpscope.store.lake import prepared
from perpscope.store.live_log import (
    LiveLog,
    _read_messages,
    live_rows,
    log_files,
    new_session,
    read_segment,
    seal,
    seal_orphans,
)
from perpscope.store.parts import compact, is_part
from perpscope.store.reader import duckdb_connection, read
from perpscope.store.summary import summary

batch = st.lists(
    st.tuples(
        st.integers(0, SLOTS - 1), st.integers(1, 9), st.sampled_from(["BTC-USDT-PERP", "ETH-USDT-PERP"])
    ),
    min_size=1,
    max_size=12,
)
step = st.one_of(
    st.tuples(st.just("log"), batch),
    st.tuples(st.just("log"), batch),  # twice as likely: the collector's usual write
    st.tuples(st.just("seal"), st.just([])),
    st.tuples(st.just("die"), st.just([])),  # the session ends without sealing (kill -9)
    st.tuples(st.just("compact"), st.just([])),
    st.tuples(st.just("compact-parts"), st.just([])),
)


class Session:
    """One collector session's logs of candles and trades, as the sink drives them."""

    def __init__(self, lake: Lake) -> None:
        seal_orphans(lake)  # what a collector does on start: the logs of dead sessions sealed first
        self.lake = lake
        name = new_session()
        self.logs = {rt: LiveLog(lake, rt, name) for rt in (CANDLES, TRADES)}

    def commit(self, candle: pl.DataFrame, trade: pl.DataFrame) -> None:
        for rt, df in ((CANDLES, candle), (TRADES, trade)):
            self.logs[rt].write(prepared(rt, df))
        for log in self.logs.values():
            log.sync()

    def seal(self) -> None:
        for rt, log in self.logs.items():
            seg = log.rotate()
            if seg is not None:
                seal(self.lake, rt, seg)

    def die(self) -> None:
        for log in self.logs.values():
            if log.segment is not None:
                log.segment.close()  # its lock released, as when the process dies
                log.segment = None


def assert_reads_equal(lake: Lake, one: Lake) -> None:
    for record in ("candles", "trades"):
        got, want = read(lake, record), read(one, record)
        assert got.equals(want), record
        col = "price" if record == "trades" else "close"
        where = {col: want.get_column(col)[0]}
        assert read(lake, record, where=where).equals(read(one, record, where=where))
        assert read(lake, record, symbol="ETHUSDT").equals(read(one, record, symbol="ETHUSDT"))
        order = "trade_id" if record == "trades" else "ts_ms"
        sql = f"SELECT * FROM {record} ORDER BY ts_ms, canonical, {order}"
        assert duckdb_connection(lake).sql(sql).pl().equals(duckdb_connection(one).sql(sql).pl())
    assert coverage(lake).equals(coverage(one))
    assert coverage_of(lake).equals(coverage_of(one))
    assert summary(lake).equals(summary(one))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=8))
def test_any_interleaving_of_log_appends_seals_and_compactions_reads_as_one_write(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, list[tuple[int, int, str]]]]
) -> None:
    root = tmp_path_factory.mktemp("live")
    lake, one = Lake(root / "live"), Lake(root / "one")
    session = Session(lake)
    all_candles, all_trades = [], []
    for kind, rows in steps:
        if kind == "seal":
            session.seal()
        elif kind == "die":
            session.die()
            session = Session(lake)
        elif kind == "compact":
            lake.compact()  # seals only dead sessions' logs; the live one stays
        elif kind == "compact-parts":
            compact(lake, into_month=False)
        else:
            candle, trade = _frames(rows)
            all_candles.append(candle)
            all_trades.append(trade)
            session.commit(candle, trade)
    if not all_candles:
        return
    one.write(CANDLES, pl.concat(all_candles))
    one.write(TRADES, pl.concat(all_trades))
    assert_reads_equal(lake, one)
    session.seal()
    lake.compact()
    assert not log_files(lake, "trades") and not log_files(lake, "candles")
    assert not any(is_part(p) for p in lake.root.rglob("*.parquet"))
    for record in ("candles", "trades"):
        assert read(lake, record).equals(read(one, record))


def test_a_torn_tail_is_ignored_on_read_and_cut_off_when_the_orphan_is_sealed(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "data")
    log = LiveLog(lake, TRADES, new_session())
    first = prepared(TRADES, trades([1, 2, 3], [10.0, 20.0, 30.0]))
    second = prepared(TRADES, trades([4, 5], [40.0, 50.0]))
    log.write(first)
    log.sync()
    size = log.write(second)
    log.sync()
    assert log.segment is not None
    path = log.segment.path
    whole = path.read_bytes()
    # every cut inside the second batch (a kill within its write) shows exactly the first batch
    for cut in sorted({len(whole) - 1, len(whole) - size // 2, len(whole) - size + 8}):
        table, end = read_segment(whole[:cut])
        assert table is not None and table.num_rows == first.height
        assert end == len(whole) - size
    log.segment.close()
    with path.open("r+b") as fh:
        fh.truncate(len(whole) - size // 2)  # the kill left half of the second batch
    got = live_rows(lake, TRADES)
    assert got is not None and got.equals(first)
    assert read(lake, "trades").get_column("trade_id").to_list() == [1, 2, 3]
    done = seal_orphans(lake)
    assert (done.segments, done.rows) == (1, first.height)
    assert not log_files(lake, TRADES)
    assert read(lake, "trades").get_column("trade_id").to_list() == [1, 2, 3]


def test_a_segment_read_in_one_call_is_what_reading_it_message_by_message_gives_at_every_cut(
    tmp_path: Path,
) -> None:
    """:func:`read_segment` decodes the whole messages with Arrow's stream reader; cut anywhere (a kill
    inside a write, a reader racing a write) or followed by zeros, it returns the batches and the end
    that decoding each message in turn returns."""
    log = LiveLog(Lake(tmp_path / "data"), TRADES, new_session(), fsync=False)
    for k in range(4):
        log.write(prepared(TRADES, trades(list(range(10 * k, 10 * k + 3 + k)), [1.0 + k] * (3 + k))))
    assert log.segment is not None
    whole = log.segment.path.read_bytes()
    schema = pa.ipc.read_schema(pa.ipc.read_message(pa.BufferReader(whole)))
    cuts = sorted({*range(0, len(whole) + 1, 7), len(whole) - 1, len(whole)})
    for data in [whole[:cut] for cut in cuts] + [whole + bytes(64)]:
        table, end = read_segment(data)
        if table is None:
            assert end == 0
            continue
        want, want_end = _read_messages(pa.py_buffer(data), schema)
        assert end == want_end and table.schema.equals(want.schema) and table.equals(want)
    assert read_segment(whole)[0].num_rows == 3 + 4 + 5 + 6  # type: ignore[union-attr]


def test_a_live_segment_is_never_sealed_as_an_orphan(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "data")
    log = LiveLog(lake, CANDLES, new_session())
    log.write(prepared(CANDLES, bars([0, 1], [1.0, 2.0])))
    log.sync()
    done = seal_orphans(lake)  # its writer holds the segment's lock
    assert (done.segments, done.live) == (0, 1)
    assert len(log_files(lake, CANDLES)) == 1
    assert read(lake, "candles").height == 2


def test_a_seal_cut_between_its_parts_and_the_logs_deletion_shows_no_row_twice(tmp_path: Path) -> None:
    """The parts are in and the segment still there (a kill before its deletion): readers deduplicate,
    and sealing the segment again adds newer parts of the same rows, folded by compaction."""
    lake = Lake(tmp_path / "data")
    log = LiveLog(lake, TRADES, new_session())
    rows = prepared(TRADES, trades(list(range(40)), [float(i) for i in range(40)]))
    log.write(rows)
    log.sync()
    assert log.segment is not None
    kept = log.segment.path.read_bytes()
    seg = log.rotate()
    assert seg is not None
    seal(lake, TRADES, seg)
    seg.path.write_bytes(kept)  # as if the kill came before the unlink
    want = read(lake, "trades")
    assert want.height == 40 and want.get_column("trade_id").is_unique().all()
    assert duckdb_connection(lake).execute("SELECT count(*) FROM trades").fetchone() == (40,)
    assert seal_orphans(lake).segments == 1
    assert read(lake, "trades").equals(want)
    lake.compact()
    assert read(lake, "trades").equals(want)
    assert not any(is_part(p) for p in lake.root.rglob("*.parquet"))


def test_a_failed_write_leaves_no_torn_batch_inside_the_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails part-way (a full disk) is cut back, so the batches after it stay readable."""
    lake = Lake(tmp_path / "data")
    log = LiveLog(lake, TRADES, new_session())
    log.write(prepared(TRADES, trades([1], [1.0])))
    log.sync()
    assert log.segment is not None
    real_write = os.write
    calls = []

    def short_then_fail(fd: int, data: bytes | memoryview) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data)[:10])  # a short write …
        raise OSError(28, "No space left on device")  # … then the disk is full

    with monkeypatch.context() as m:
        m.setattr(os, "write", short_then_fail)
        with pytest.raises(OSError):
            log.write(prepared(TRADES, trades([2], [2.0])))
    log.write(prepared(TRADES, trades([3], [3.0])))
    log.sync()
    assert read(lake, "trades").get_column("trade_id").to_list() == [1, 3]


def test_an_orphan_is_decoded_once_when_sealed_by_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sealer process seals a segment by its path (taken as an orphan's, its torn tail cut): the
    batches decoded to find that tail are the ones sealed, the file is not decoded a second time, and
    the parts hold exactly the whole batches."""
    import perpscope.store.live_log as mod

    lake = Lake(tmp_path / "data")
    log = LiveLog(lake, TRADES, new_session())
    first = prepared(TRADES, trades([1, 2, 3], [10.0, 20.0, 30.0]))
    log.write(first)
    size = log.write(prepared(TRADES, trades([4, 5], [40.0, 50.0])))
    seg = log.rotate()
    assert seg is not None
    os.ftruncate(seg.fd, seg.bytes - size // 2)  # a kill within the second batch's write
    seg.close()
    calls: list[int] = []
    decode = mod.read_segment

    def counted(data: bytes | pa.Buffer) -> tuple[pa.Table | None, int]:
        calls.append(len(data))
        return decode(data)

    monkeypatch.setattr(mod, "read_segment", counted)
    rows, files = seal(lake, TRADES, seg.path)
    assert (rows, len(files), len(calls)) == (first.height, 1, 1)
    assert not log_files(lake, TRADES)
    assert read(lake, "trades").get_column("trade_id").to_list() == [1, 2, 3]


def test_a_segment_whose_bytes_do_not_all_read_as_batches_is_never_deleted_by_a_seal(tmp_path: Path) -> None:
    """A rotated segment is whole: if its bytes do not all decode, the seal refuses (rows it could not read
    would otherwise be deleted with it) and leaves the segment for readers and a later seal."""
    lake = Lake(tmp_path / "data")
    log = LiveLog(lake, TRADES, new_session())
    log.write(prepared(TRADES, trades([1, 2], [1.0, 2.0])))
    log.sync()
    seg = log.rotate()
    assert seg is not None
    os.write(seg.fd, b"\x01\x02\x03 not an IPC message")
    with pytest.raises(StoreError, match="not whole batches"):
        seal(lake, TRADES, seg)
    assert log_files(lake, TRADES) == [seg.path]
    assert read(lake, "trades").get_column("trade_id").to_list() == [1, 2]


def test_a_batch_encoded_first_and_appended_later_is_the_batch_write_appends(tmp_path: Path) -> None:
    """The collector encodes a small flush on its event loop and appends it in its writer thread: the
    segment's bytes are those of :meth:`LiveLog.write`, and a batch encoded for a segment that was
    rotated meanwhile (another schema) is refused, never written under the wrong schema."""
    one, two = prepared(TRADES, trades([1, 2], [1.0, 2.0])), prepared(TRADES, trades([3], [3.0]))
    written = LiveLog(Lake(tmp_path / "a"), TRADES, "s")
    written.write(one)
    written.write(two)
    split = LiveLog(Lake(tmp_path / "b"), TRADES, "s")
    first = split.encode(one)
    assert first is not None and first.rows == 2
    split.append(first)
    split.append(split.encode(two))
    assert split.encode(one.clear()) is None and split.append(None) == 0
    a, b = log_files(written.lake, TRADES), log_files(split.lake, TRADES)
    assert len(a) == len(b) == 1 and a[0].read_bytes() == b[0].read_bytes()
    assert read(split.lake, "trades").get_column("trade_id").to_list() == [1, 2, 3]
    other = split.encode(two.with_columns(pl.col("price").cast(pl.Float32)))
    assert other is not None and other.schema == first.schema  # cast to the open segment's schema
    stale = dataclasses.replace(
        first, schema=first.schema.remove_metadata().set(0, pa.field("venue", pa.string()))
    )
    with pytest.raises(StoreError):
        split.append(stale)
