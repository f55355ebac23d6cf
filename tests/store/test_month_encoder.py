"""Month files encoded ahead (:class:`MonthEncoder`): byte for byte the file the whole write makes, or
nothing — never a file holding other rows than the transaction writes.

Rows are four days of Binance's real 5-minute BTCUSDT perp klines (``tests/fixtures/archive``, 1,152
bars in one month); row groups are made small (100 rows) so those days span a dozen of them, as a month
of two million trades spans eight of 262,144.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from tests.conftest import FIXTURES

from perpscope.ingest.importer import import_paths
from perpscope.records import CANDLES
from perpscope.store import Lake
from perpscope.store import lake as lake_module
from perpscope.store.lake import MonthEncoder, encode_ahead, write_parquet

KLINE_5M = FIXTURES / "archive" / "data" / "futures/um/daily/klines/BTCUSDT/5m"
GROUP = 100


@pytest.fixture
def small_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    """Row groups of 100 rows, written by pyarrow from 100 rows on, and merges that check whether rows
    are in order rather than sort them from 100 rows on (as for a big month)."""
    monkeypatch.setattr(lake_module, "ROW_GROUP_ROWS", GROUP)
    monkeypatch.setattr(lake_module, "PYARROW_FROM_ROWS", GROUP)
    monkeypatch.setattr(lake_module, "IN_ORDER_CHECK_ROWS", GROUP)
    monkeypatch.setattr(lake_module, "ENCODE_AHEAD_MIN_ROWS", GROUP)


@pytest.fixture
def month(tmp_path: Path) -> pl.DataFrame:
    """The month file of the four real daily kline files, as the store holds it."""
    lake = Lake(tmp_path / "src")
    report = import_paths(sorted(KLINE_5M.glob("*.zip")), lake)
    assert not report.failed
    (path,) = lake.month_files("candles")
    return pl.read_parquet(path)


def _whole(df: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    write_parquet(df, buf)
    return buf.getvalue()


def _fed(df: pl.DataFrame, cuts: list[int]) -> MonthEncoder:
    enc = MonthEncoder(CANDLES)
    for lo, hi in zip([0, *cuts], [*cuts, df.height], strict=True):
        enc.feed(df.slice(lo, hi - lo))
    return enc


@pytest.mark.usefixtures("small_groups")
def test_a_month_encoded_while_its_rows_arrive_is_the_file_written_whole(month: pl.DataFrame) -> None:
    assert month.height == 4 * 288
    # slices of any size, as files arrive: a day, a sliver, the rest
    enc = _fed(month, [288, 290, 700])
    assert enc.rows_encoded == month.height // GROUP * GROUP  # every complete group; the rest at finish
    data = enc.finish(month)
    assert data is not None
    assert data == _whole(month)
    assert pl.read_parquet(io.BytesIO(data)).equals(month)


@pytest.mark.usefixtures("small_groups")
def test_rows_that_are_not_the_ones_encoded_give_no_file(month: pl.DataFrame) -> None:
    # the transaction's rows lost one bar inside the encoded part (deduplicated, say)
    assert _fed(month, [500]).finish(month.filter(pl.int_range(pl.len()) != 150)) is None
    # rows fed out of time order: the write sorts them, so nothing is encoded ahead
    enc = MonthEncoder(CANDLES)
    enc.feed(month.slice(576))
    enc.feed(month.slice(0, 576))
    assert enc.abandoned and enc.finish(month) is None
    # fewer rows written than were encoded
    assert _fed(month, [400]).finish(month.head(150)) is None


@pytest.mark.usefixtures("small_groups")
def test_a_text_column_one_valued_at_first_and_not_later_is_written_as_the_whole_write_would(
    month: pl.DataFrame,
) -> None:
    # the first rows come from one source, the last ones from another: the whole write stores the
    # column as text, not as a one-entry dictionary, so the encoder must give up rather than differ
    def other_source_from(row: int) -> pl.DataFrame:
        later = pl.int_range(pl.len()) >= row
        return month.with_columns(pl.when(later).then(pl.lit("export:x:y")).otherwise(pl.col("source")))

    mixed = other_source_from(1120)
    in_rest = _fed(mixed, [600])  # the other source only in the rows finish encodes
    assert in_rest.rows_encoded == 1100 and in_rest.finish(mixed) is None
    in_group = other_source_from(450)
    assert _fed(in_group, [288, 576, 864]).finish(in_group) is None  # in a group fed later
    for frame in (mixed, in_group):
        assert pl.read_parquet(io.BytesIO(_whole(frame))).equals(frame)


@pytest.mark.usefixtures("small_groups")
def test_importing_daily_files_encodes_their_month_ahead_and_stores_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = sorted(KLINE_5M.glob("*.zip"))
    finished: list[bool] = []
    finish = MonthEncoder.finish

    def spy(self: MonthEncoder, frame: pl.DataFrame) -> bytes | None:
        out = finish(self, frame)
        finished.append(out is not None)
        return out

    monkeypatch.setattr(MonthEncoder, "finish", spy)
    stores = {}
    for ahead in (False, True):
        monkeypatch.setattr(Lake, "encodes_ahead", ahead)
        lake = Lake(tmp_path / f"ahead={ahead}")
        report = import_paths(files, lake)
        assert not report.failed and report.rows_added() == {"candles": 4 * 288}
        (path,) = lake.month_files("candles")
        stores[ahead] = path.read_bytes()
        if ahead:
            # the month is stored now: a second import merges into it, nothing is encoded ahead
            again = import_paths(files, lake)
            assert sum(again.rows_added().values()) == 0
            assert path.read_bytes() == stores[ahead]
    assert finished == [True]  # the month was encoded ahead once, in the first import with it on
    assert stores[True] == stores[False]


@pytest.mark.usefixtures("small_groups")
def test_a_frame_too_small_to_feed_ends_the_encoding_ahead_of_its_records_months(
    month: pl.DataFrame, tmp_path: Path
) -> None:
    lake = Lake(tmp_path / "store")
    encoders: dict[Path, MonthEncoder] = {}
    encode_ahead(lake, CANDLES, month.slice(0, 576), encoders)
    (encoder,) = encoders.values()
    assert encoder.rows_encoded == 500 and not encoder.abandoned
    # the next day's rows come in a frame below the feeding threshold: they are not fed, so what
    # was encoded cannot be the month file any more
    encode_ahead(lake, CANDLES, month.slice(576, GROUP - 1), encoders)
    assert encoder.abandoned and encoder.finish(month.head(576 + GROUP - 1)) is None
