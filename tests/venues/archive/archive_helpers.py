"""Helpers shared by the archive tests: fixture paths, zip writing, source data loading."""

from __future__ import annotations

import io
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "archive"
UM = FIXTURES / "data" / "futures" / "um"
SPOT = FIXTURES / "data" / "spot"
KLINES_5M = UM / "daily/klines/BTCUSDT/5m"
DAY_MS = 86_400_000

KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)
METRICS_HEADER = (
    "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,"
    "sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio"
)


def ms(text: str) -> int:
    """ISO date/datetime (UTC) → epoch ms."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def zip_text(path: Path) -> str:
    """The CSV text inside an archive zip."""
    with zipfile.ZipFile(path) as zf:
        return zf.read(zf.namelist()[0]).decode()


def write_zip(path: Path, text: str | bytes) -> Path:
    """``path`` as the archive publishes it: a zip holding ``<stem>.csv``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(path.stem + ".csv", data)
    return path


def copy_into(src: Path, dest_dir: Path) -> Path:
    """Copy a fixture file into ``dest_dir`` (created), keeping its name."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, dest_dir / src.name))


def zip_bytes(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.csv", text)
    return buf.getvalue()


def epoch_ms(frame: pl.DataFrame, col: str = "ts_ms") -> list[int]:
    """An instant column back to epoch ms."""
    return frame.get_column(col).dt.epoch("ms").to_list()


def source_day(path: Path, time_col: str, day: str) -> pl.DataFrame:
    """Rows of a shared-data CSV whose ``time_col`` (epoch ms) falls on ``day``, in time order."""
    df = pl.read_csv(path)
    start = ms(day)
    return df.filter(pl.col(time_col).is_between(start, start + DAY_MS - 1)).sort(time_col)
