"""The store: idempotent, atomic writes; reads by range; coverage with gaps."""

from __future__ import annotations

import itertools
from pathlib import Path
from unittest import mock

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from perpscope.core.errors import StoreError
from perpscope.core.time import DAY_MS, HOUR_MS, MINUTE_MS
from perpscope.records import CANDLES, FUNDING, LIQUIDATIONS
from perpscope.store import Lake
from perpscope.store.coverage import coverage
from perpscope.store.reader import duckdb_connection, read, resolve_symbols

T0 = 1759708800000  # 2025-10-06 00:00 UTC


def candles(
    n: int,
    start_ms: int = T0,
    step_ms: int = 5 * MINUTE_MS,
    canonical: str = "BTC-USDT-PERP",
    close0: float = 100.0,
) -> pl.DataFrame:
    ts = [start_ms + i * step_ms for i in range(n)]
    close = [close0 + i for i in range(n)]
    return pl.DataFrame(
        {
            "venue": "binance",
            "symbol": "BTCUSDT",
            "canonical": canonical,
            "market": "spot" if canonical.endswith("SPOT") else "perp",
            "price_type": "trade",
            "interval_ms": step_ms,
            "ts_ms": ts,
            "open": close,
            "high": [c + 1 for c in close],
            "low": [c - 1 for c in close],
            "close": close,
        }
    )


def test_write_then_read_round_trips_across_months(lake: Lake) -> None:
    # 2025-09-30 22:00 → 2025-10-01 02:00: one bar series split over two month files
    start = T0 - 6 * DAY_MS + 22 * HOUR_MS
    df = candles(48, start_ms=start)
    res = lake.write(CANDLES, df)
    assert res.rows_in == 48 and res.rows_added == 48
    assert sorted(p.name for p in res.files) == ["2025-09.parquet", "2025-10.parquet"]
    back = read(lake, "candles", venue="binance", symbol="BTCUSDT")
    assert back.equals(CANDLES.conform(df))
    part = read(
        lake,
        "candles",
        symbol="BTC-USDT-PERP",
        start_ms=start + 10 * 5 * MINUTE_MS,
        end_ms=start + 20 * 5 * MINUTE_MS,
    )
    assert part.height == 10
    assert part["close"].to_list() == [100.0 + i for i in range(10, 20)]


def test_second_import_adds_nothing_and_newer_value_wins(lake: Lake) -> None:
    df = candles(10)
    assert lake.write(CANDLES, df).rows_added == 10
    f = lake.month_files(CANDLES)[0]
    mtime = f.stat().st_mtime_ns
    assert lake.write(CANDLES, df).rows_added == 0
    assert f.stat().st_mtime_ns == mtime  # nothing new: the file was not rewritten
    revised = df.with_columns(
        pl.when(pl.col("ts_ms") == T0).then(999.0).otherwise(pl.col("close")).alias("close")
    )
    assert lake.write(CANDLES, revised).rows_added == 0
    back = read(lake, CANDLES)
    assert back.height == 10
    assert back.filter(pl.col("ts_ms").dt.epoch("ms") == T0)["close"][0] == 999.0


def test_spot_and_perp_with_the_same_venue_symbol_stay_apart(lake: Lake) -> None:
    lake.write(CANDLES, candles(3, canonical="BTC-USDT-PERP", close0=100.0))
    lake.write(CANDLES, candles(3, canonical="BTC-USDT-SPOT", close0=50.0))
    assert resolve_symbols(lake, "candles", "binance", "BTCUSDT") == ["BTC-USDT-PERP"]
    assert resolve_symbols(lake, "candles", "binance", "BTCUSDT", market="spot") == ["BTC-USDT-SPOT"]
    assert read(lake, "candles", symbol="BTCUSDT", market="spot")["close"][0] == 50.0
    assert read(lake, "candles", symbol="ETHUSDT").is_empty()


def test_bad_frames_are_refused_and_nothing_is_written(lake: Lake) -> None:
    bad = candles(3).with_columns(pl.lit("weird").alias("price_type"))
    with pytest.raises(StoreError, match="not written"):
        lake.write(CANDLES, bad)
    assert lake.month_files(CANDLES) == []
    with pytest.raises(StoreError, match="cannot name a store folder"):
        lake.write(CANDLES, candles(1, canonical="../../etc"))


def test_a_crash_mid_write_leaves_the_old_file_intact(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    lake.write(CANDLES, candles(5))
    before = read(lake, CANDLES)

    def boom(self: pl.DataFrame, path: Path, **kw: object) -> None:
        Path(path).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", boom)
    with pytest.raises(OSError, match="disk full"):
        lake.write(CANDLES, candles(5, start_ms=T0 + 5 * 5 * MINUTE_MS))
    monkeypatch.undo()
    assert read(lake, CANDLES).equals(before)
    leftovers = [p for p in lake.root.rglob("*") if ".tmp-" in p.name]
    assert leftovers == []


def test_coverage_reports_ranges_and_gaps(lake: Lake) -> None:
    df = candles(12)
    holed = df.filter(~pl.col("ts_ms").is_in([T0 + 4 * 5 * MINUTE_MS, T0 + 5 * 5 * MINUTE_MS]))
    lake.write(CANDLES, holed)
    funding = pl.DataFrame(
        {
            "venue": "binance",
            "symbol": "BTCUSDT",
            "canonical": "BTC-USDT-PERP",
            # 8h settlements, then the venue switches the symbol to 4h: no gap at the switch
            "ts_ms": [T0, T0 + 8 * HOUR_MS, T0 + 16 * HOUR_MS, T0 + 20 * HOUR_MS, T0 + 32 * HOUR_MS],
            "rate": [0.0001, 0.0001, -0.00005, 0.0002, 0.0001],
            "interval_ms": [8 * HOUR_MS, 8 * HOUR_MS, 8 * HOUR_MS, 4 * HOUR_MS, 4 * HOUR_MS],
        }
    )
    lake.write(FUNDING, funding)
    cov = coverage(lake)
    c = cov.filter(pl.col("record") == "candles").row(0, named=True)
    assert (c["rows"], c["first_ms"], c["last_ms"], c["gaps"]) == (10, T0, T0 + 11 * 5 * MINUTE_MS, 1)
    assert c["gap_list"] == [[T0 + 3 * 5 * MINUTE_MS, T0 + 6 * 5 * MINUTE_MS]]
    assert c["series"] == "trade 5m"
    f = cov.filter(pl.col("record") == "funding").row(0, named=True)
    assert f["gaps"] == 1  # 20h → 32h is three missing 4h settlements
    assert f["gap_list"] == [[T0 + 20 * HOUR_MS, T0 + 32 * HOUR_MS]]


def test_duckdb_views_read_the_lake(lake: Lake) -> None:
    lake.write(CANDLES, candles(7))
    con = duckdb_connection(lake)
    n, total = con.execute("SELECT count(*), sum(close) FROM candles").fetchone()  # type: ignore[misc]
    assert n == 7 and total == sum(100.0 + i for i in range(7))


liq_rows = st.lists(
    st.tuples(
        st.integers(min_value=1_500_000_000_000, max_value=1_900_000_000_000),
        st.sampled_from(["long", "short"]),
        st.floats(min_value=1e-8, max_value=1e7, allow_nan=False),
        st.floats(min_value=1e-8, max_value=1e6, allow_nan=False),
        st.sampled_from(["BTC-USDT-PERP", "ETH-USDT-PERP"]),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=liq_rows)
def test_property_write_read_round_trip_and_idempotence(
    tmp_path_factory: pytest.TempPathFactory, rows: list
) -> None:
    lake = Lake(tmp_path_factory.mktemp("lake"))
    df = pl.DataFrame(
        {
            "venue": "binance",
            "symbol": [c.replace("-", "")[:-4] for *_, c in rows],
            "canonical": [c for *_, c in rows],
            "ts_ms": [r[0] for r in rows],
            "side": [r[1] for r in rows],
            "price": [r[2] for r in rows],
            "qty_base": [r[3] for r in rows],
            "notional_usd": [r[2] * r[3] for r in rows],
        }
    )
    expected = LIQUIDATIONS.conform(df).unique(subset=list(LIQUIDATIONS.key), keep="last")
    first = lake.write(LIQUIDATIONS, df)
    assert first.rows_added == expected.height
    snapshot = {p: p.read_bytes() for p in lake.root.rglob("*.parquet")}
    assert lake.write(LIQUIDATIONS, df).rows_added == 0
    assert {p: p.read_bytes() for p in lake.root.rglob("*.parquet")} == snapshot
    back = read(lake, LIQUIDATIONS)
    key = ["canonical", "ts_ms", "side", "price", "qty_base"]
    assert back.sort(key).equals(expected.sort(key))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 3),  # minute
            st.sampled_from(["trade", "mark"]),
            st.sampled_from([MINUTE_MS, 5 * MINUTE_MS]),
            st.sampled_from(["archive:a", "export:b"]),
            st.floats(1, 2),
        ),
        max_size=8,
    ),
    stored=st.integers(0, 8),
)
def test_merge_month_skips_the_sort_only_when_it_would_change_nothing(
    rows: list[tuple[int, str, int, str, float]], stored: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-order fast path of ``merge_month`` gives what sorting and keeping the newest of each
    key gives, on frames in order, out of order and with repeated keys."""
    from perpscope.store import lake as lake_module
    from perpscope.store.lake import _keep_last_of_equal_keys, merge_month

    monkeypatch.setattr(lake_module, "IN_ORDER_CHECK_ROWS", 0)  # the fast path on these small frames

    df = CANDLES.conform(
        pl.DataFrame(
            {
                "venue": "binance",
                "symbol": "BTCUSDT",
                "canonical": "BTC-USDT-PERP",
                "market": "perp",
                "price_type": [r[1] for r in rows],
                "interval_ms": pl.Series([r[2] for r in rows], dtype=pl.Int64),
                "ts_ms": [T0 + r[0] * MINUTE_MS for r in rows],
                "open": [r[4] for r in rows],
                "high": [r[4] for r in rows],
                "low": [r[4] for r in rows],
                "close": [r[4] for r in rows],
                "source": [r[3] for r in rows],
            }
        )
    )
    cut = min(stored, df.height)
    old, new = (df.head(cut), df.slice(cut)) if cut else (None, df)
    sort_cols = ["ts_ms", *[k for k in CANDLES.key if k != "ts_ms"]]
    expected = _keep_last_of_equal_keys(df.sort(sort_cols, maintain_order=True), sort_cols)
    merged = merge_month(CANDLES, old, new)
    assert (old if merged is None else merged).equals(expected)


def _strictly_increasing_by_rows(df: pl.DataFrame, cols: list[str]) -> bool:
    """The definition, row by row: each row's ``cols`` tuple exceeds the row before (None below values)."""

    def key(row: dict[str, object]) -> tuple[tuple[bool, object], ...]:
        return tuple((row[c] is not None, row[c]) for c in cols)

    rows = [key(r) for r in df.select(cols).iter_rows(named=True)]
    return all(a < b for a, b in itertools.pairwise(rows))


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(0, 4),  # a time with ties
            st.one_of(st.none(), st.integers(0, 6)),  # an id, sometimes missing
            st.sampled_from(["BTC-USDT-PERP", "ETH-USDT-PERP"]),
            st.sampled_from(["a", "b"]),
        ),
        max_size=8,
    ),
    constant_text=st.booleans(),
)
def test_order_check_agrees_with_its_definition(
    rows: list[tuple[int, int | None, str, str]], constant_text: bool
) -> None:
    """``_strictly_increasing`` (constant columns left out, numpy for a time and an integer) answers as
    the row-by-row definition does, with ties, repeats, missing ids and constant or varying text, on
    one chunk or several, with or without the column-by-column check in place (large frames);
    that check says True only where the definition does."""
    from perpscope.store import lake as lake_module
    from perpscope.store.lake import _rises_in_order, _strictly_increasing

    df = pl.DataFrame(
        {
            "ts_ms": pl.Series([T0 + r[0] * MINUTE_MS for r in rows], dtype=pl.Int64).cast(
                pl.Datetime("ms", "UTC")
            ),
            "trade_id": pl.Series([r[1] for r in rows], dtype=pl.Int64),
            "canonical": ["BTC-USDT-PERP" if constant_text else r[2] for r in rows],
            "source": ["a" if constant_text else r[3] for r in rows],
        },
        schema={
            "ts_ms": pl.Datetime("ms", "UTC"),
            "trade_id": pl.Int64,
            "canonical": pl.String,
            "source": pl.String,
        },
    )
    half = df.height // 2
    chunked = pl.concat([df.head(half), df.slice(half)], how="vertical", rechunk=False)
    for frame in (df, chunked):
        for cols in (
            ["ts_ms", "canonical", "trade_id"],
            ["ts_ms", "source", "canonical", "trade_id"],
            ["ts_ms"],
            ["trade_id", "ts_ms"],
        ):
            want = _strictly_increasing_by_rows(frame, cols)
            assert _strictly_increasing(frame, cols) == want, cols
            with mock.patch.object(lake_module, "RISES_IN_PLACE_ROWS", 0):
                assert _strictly_increasing(frame, cols) == want, cols
            assert want or not _rises_in_order(frame, cols), cols


def test_month_files_read_back_alike_from_either_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A month file written by pyarrow (large frames: one-entry dictionaries, delta-encoded integers
    and instants, dictionaries on floats) reads back as the frame written, in polars, pyarrow and
    DuckDB alike, as the polars writer's file does."""
    import duckdb
    import pyarrow.parquet as pq

    from perpscope.store import lake as lake_module
    from perpscope.store.lake import write_parquet

    df = CANDLES.conform(candles(3_000).with_columns(pl.lit("archive:x").alias("source")))
    df = df.with_columns(  # one text column that varies, one with a missing value
        pl.when(pl.int_range(pl.len()) % 3 == 0)
        .then(pl.lit("mark"))
        .otherwise(pl.lit("trade"))
        .alias("price_type"),
        pl.when(pl.int_range(pl.len()) == 7).then(None).otherwise(pl.col("volume_base")).alias("volume_base"),
    )
    paths = {}
    for name, threshold in (("polars", 10**9), ("pyarrow", 0)):
        monkeypatch.setattr(lake_module, "PYARROW_FROM_ROWS", threshold)
        paths[name] = tmp_path / f"{name}.parquet"
        write_parquet(df, paths[name])
    assert "DELTA_BINARY_PACKED" in str(pq.ParquetFile(paths["pyarrow"]).metadata.row_group(0).column(6))
    for path in paths.values():
        back = pl.read_parquet(path)
        assert back.schema == df.schema
        assert back.equals(df)
        assert pl.from_arrow(pq.read_table(path)).equals(df)
    by_duckdb = [duckdb.sql(f"select * from read_parquet('{p}')").pl() for p in paths.values()]
    assert by_duckdb[0].equals(by_duckdb[1])


def test_a_month_of_one_minute_bars_is_written_by_pyarrow_its_plain_floats_at_the_float_level(
    tmp_path: Path,
) -> None:
    """A month of 1-minute bars (44,640 rows) is at least :data:`PYARROW_FROM_ROWS`: pyarrow writes it,
    zstd on every column, the float columns without a dictionary (prices that hardly repeat) at
    :data:`FLOAT_ZSTD_LEVEL` and the rest at :data:`ZSTD_LEVEL`; polars, pyarrow, DuckDB and the store's
    reader read it back as the frame written."""
    import duckdb
    import pyarrow.parquet as pq

    from perpscope.store.lake import (
        FLOAT_ZSTD_LEVEL,
        PYARROW_FROM_ROWS,
        ZSTD_LEVEL,
        _pyarrow_options,
        write_parquet,
    )

    month = candles(31 * 1440, step_ms=MINUTE_MS).with_columns(
        pl.lit("archive:x").alias("source"), (pl.col("close") * 1.5).alias("volume_base")
    )
    df = CANDLES.conform(month)
    assert df.height >= PYARROW_FROM_ROWS
    path = tmp_path / "month.parquet"
    write_parquet(df, path)
    meta = pq.ParquetFile(path).metadata
    assert meta.created_by.startswith("parquet-cpp-arrow")
    levels = _pyarrow_options(df)["compression_level"]
    floats = [c for c, t in df.schema.items() if t == pl.Float64]
    for i, c in enumerate(meta.schema.names):
        chunk = meta.row_group(0).column(i)
        assert chunk.compression == "ZSTD", c
        plain_float = c in floats and "RLE_DICTIONARY" not in chunk.encodings
        assert levels[c] == (FLOAT_ZSTD_LEVEL if plain_float else ZSTD_LEVEL), c
    assert {"open", "close", "volume_base"} <= {c for c in floats if levels[c] == FLOAT_ZSTD_LEVEL}
    assert pl.read_parquet(path).equals(df)
    assert pl.from_arrow(pq.read_table(path)).equals(df)  # type: ignore[union-attr]
    reference = tmp_path / "by_polars.parquet"  # DuckDB types instants its own way: compare like with like
    df.write_parquet(reference)
    by_duckdb = [duckdb.sql(f"select * from read_parquet('{p}')").pl() for p in (path, reference)]
    assert by_duckdb[0].equals(by_duckdb[1])
    lake = Lake(tmp_path / "store")
    lake.write(CANDLES, df)
    assert read(lake, "candles").sort("ts_ms").equals(df.sort("ts_ms"))


def test_float_columns_get_a_dictionary_only_where_their_values_repeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A month file written by pyarrow gives a float column a dictionary when its leading values are at
    most half distinct, none otherwise: real five-minute candles' prices and volumes hardly repeat;
    the same prices on a coarse grid (as trade prices cluster on ticks) do. Either way the file
    reads back as the frame written."""
    import numpy as np
    import pyarrow.parquet as pq
    from tests.conftest import FIXTURES

    from perpscope.ingest.importer import import_paths
    from perpscope.store import lake as lake_module
    from perpscope.store.lake import DICTIONARY_SAMPLE_ROWS, write_parquet

    monkeypatch.setattr(lake_module, "PYARROW_FROM_ROWS", 0)  # four days of 5-minute bars: 1,152 rows
    store = Lake(tmp_path / "store")
    report = import_paths([FIXTURES / "archive/data/futures/um/daily/klines/BTCUSDT/5m"], store)
    assert not report.failed
    (path,) = store.month_files("candles")
    real = pl.read_parquet(path)
    assert real.height > DICTIONARY_SAMPLE_ROWS  # enough rows for the sample to decide
    gridded = real.with_columns((pl.col("close") / 100).round() * 100)  # ~1 distinct value per 100 $
    floats = [c for c, t in real.schema.items() if t == pl.Float64]
    for name, df in (("real", real), ("gridded", gridded)):
        write_parquet(df, tmp_path / f"{name}.parquet")
        meta = pq.ParquetFile(tmp_path / f"{name}.parquet").metadata
        for c in floats:
            lead = df.get_column(c).head(DICTIONARY_SAMPLE_ROWS).drop_nulls().to_numpy()
            repeats = len(np.unique(lead)) * 2 <= len(lead)
            encodings = meta.row_group(0).column(meta.schema.names.index(c)).encodings
            assert ("RLE_DICTIONARY" in encodings) == repeats, (name, c, encodings)
        assert pl.read_parquet(tmp_path / f"{name}.parquet").equals(df)
    # the data's own facts: real closes are mostly distinct, the gridded ones repeat
    lead = DICTIONARY_SAMPLE_ROWS
    assert real.get_column("close").head(lead).n_unique() > lead // 2
    assert gridded.get_column("close").head(lead).n_unique() <= lead // 2


def test_a_new_month_of_prepared_trades_merges_as_without_the_second_key_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``merge_month(..., new_one_per_key=True)``, as a transaction calls it with its prepared rows,
    gives what the full merge gives: on real archive trades (one row per id already) and on the same
    trades with ids repeated and out of order, once :func:`prepared` has kept one row per key."""
    from tests.conftest import FIXTURES

    from perpscope.ingest.importer import import_paths
    from perpscope.records import TRADES
    from perpscope.store import lake as lake_module
    from perpscope.store.lake import merge_month, prepared

    monkeypatch.setattr(lake_module, "IN_ORDER_CHECK_ROWS", 0)  # the in-order path on 31 real trades
    store = Lake(tmp_path / "store")
    zipped = FIXTURES / "archive/data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-27.zip"
    assert not import_paths([zipped], store).failed
    real = pl.read_parquet(store.month_files("trades")[0])
    assert real.get_column("trade_id").is_unique().all()
    revised = real.head(5).with_columns(pl.col("price") + 1)  # the same ids again, newer values
    for raw in (real, pl.concat([real.reverse(), revised])):
        new = prepared(TRADES, raw, conformed=True)
        full = merge_month(TRADES, None, new)
        assert full is not None
        assert (
            merge_month(TRADES, None, new, new_one_per_key=True)
            .sort("trade_id")
            .equals(full.sort("trade_id"))
        )
        assert full.height == real.height


def test_a_declared_text_column_is_handed_to_pyarrow_as_a_dictionary_and_reads_back_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real archive trades' ``taker_side`` (buy or sell, as the record declares) goes to pyarrow as a
    dictionary of the declared values, without hashing; a value the record does not declare (a frame
    not checked) or a null leaves the column as text. Every file reads back as the frame written, text
    in polars, pyarrow and DuckDB, with statistics over the values present."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tests.conftest import FIXTURES

    from perpscope.ingest.importer import import_paths
    from perpscope.store import lake as lake_module
    from perpscope.store.lake import _coded, write_parquet

    store = Lake(tmp_path / "store")
    zipped = FIXTURES / "archive/data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-27.zip"
    assert not import_paths([zipped], store).failed
    real = pl.read_parquet(store.month_files("trades")[0])
    sides = real.get_column("taker_side")
    assert set(sides) == {"buy", "sell"}  # the fixture has both
    coded = _coded(sides)
    assert isinstance(coded, pa.DictionaryArray) and coded.to_pylist() == sides.to_list()
    only_buys = real.filter(pl.col("taker_side") == "buy")
    row3 = pl.int_range(pl.len()) == 3
    side = pl.col("taker_side")
    undeclared = real.with_columns(pl.when(row3).then(pl.lit("BUY")).otherwise(side).alias("taker_side"))
    with_null = real.with_columns(pl.when(row3).then(None).otherwise(side).alias("taker_side"))
    assert _coded(undeclared.get_column("taker_side")) is None
    assert _coded(with_null.get_column("taker_side")) is None
    for name, df in (
        ("real", real),
        ("only_buys", only_buys),
        ("undeclared", undeclared),
        ("null", with_null),
    ):
        monkeypatch.setattr(lake_module, "PYARROW_FROM_ROWS", 10**9)  # polars' writer: the reference
        reference = tmp_path / f"{name}.polars.parquet"
        write_parquet(df, reference)
        monkeypatch.setattr(lake_module, "PYARROW_FROM_ROWS", 0)  # the fixture's 31 trades through pyarrow
        path = tmp_path / f"{name}.parquet"
        write_parquet(df, path)
        assert pl.read_parquet(path).equals(df), name
        by_arrow = pq.read_table(path)
        assert by_arrow.schema.field("taker_side").type == pa.string()
        assert pl.from_arrow(by_arrow).equals(df), name
        by_duckdb = [duckdb.sql(f"select * from read_parquet('{p}')").pl() for p in (reference, path)]
        assert by_duckdb[0].equals(by_duckdb[1]), name
        meta = pq.ParquetFile(path).metadata
        stats = meta.row_group(0).column(meta.schema.names.index("taker_side")).statistics
        present = df.get_column("taker_side").drop_nulls()
        assert (stats.min, stats.max) == (present.min(), present.max()), name
