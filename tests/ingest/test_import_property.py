"""Property: archive files → import → read gives back exactly the rows written, and importing the same
files again (or overlapping files) changes nothing."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from perpscope.ingest.importer import import_paths
from perpscope.store import Lake
from perpscope.store.reader import read

STEP_MS = 3_600_000
DAY_MS = 86_400_000
T0 = 1_727_740_800_000  # 2024-10-01 00:00 UTC: days 30 and 31 spill into November
price = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)


def _zip(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(path.with_suffix(".csv").name, "\n".join(lines) + "\n")
    return path


@st.composite
def days_of_bars(draw: st.DrawFn) -> dict[int, list[tuple[int, float, float]]]:
    """Some days (0–31 after T0), each with a few hourly bars (open time, close, volume)."""
    days = draw(st.sets(st.integers(0, 31), min_size=1, max_size=4))
    out = {}
    for d in sorted(days):
        hours = draw(st.sets(st.integers(0, 23), min_size=1, max_size=6))
        out[d] = [(T0 + d * DAY_MS + h * STEP_MS, draw(price), draw(price)) for h in sorted(hours)]
    return out


def _write_day(root: Path, day: int, bars: list[tuple[int, float, float]], header: bool) -> Path:
    name = pl.from_epoch(pl.Series([T0 + day * DAY_MS]), time_unit="ms").dt.strftime("%Y-%m-%d")[0]
    lines = (
        [
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
            "taker_buy_volume,taker_buy_quote_volume,ignore"
        ]
        if header
        else []
    )
    for t, c, v in bars:
        lines.append(
            f"{t},{c!r},{c!r},{c!r},{c!r},{v!r},{t + STEP_MS - 1},{c * v!r},7,{v / 2!r},{c * v / 2!r},0"
        )
    return _zip(root / f"data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-{name}.zip", lines)


@settings(max_examples=25, deadline=None)
@given(days_of_bars(), st.booleans())
def test_import_read_round_trip_and_idempotence(
    days: dict[int, list[tuple[int, float, float]]], header: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = [_write_day(root / "archive", d, bars, header) for d, bars in days.items()]
        lake = Lake(root / "data")
        first = import_paths(files, lake)
        expected = [bar for bars in days.values() for bar in bars]
        assert not first.failed
        assert first.rows_added() == {"candles": len(expected)}
        got = read(lake, "candles", venue="binance", symbol="BTCUSDT")
        assert got["ts_ms"].dt.epoch("ms").to_list() == [t for t, _, _ in expected]
        assert got["close"].to_list() == [c for _, c, _ in expected]
        assert got["volume_base"].to_list() == [v for _, _, v in expected]
        snapshot = {p: p.read_bytes() for p in lake.root.rglob("*.parquet")}
        again = import_paths(list(reversed(files)) + files[:1], lake)  # again, reordered, one twice
        assert sum(again.rows_added().values()) == 0
        assert {p: p.read_bytes() for p in lake.root.rglob("*.parquet")} == snapshot
