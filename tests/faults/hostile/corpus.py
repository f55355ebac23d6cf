"""A corpus of hostile import files, each built from a real fixture with one thing broken, and the
valid real files each one is imported beside.

Used by ``tests/faults/test_import_hostile.py``; ``python -m tests.faults.hostile.corpus`` prints how the
checked-out importer answers each file (run it with another ``PYTHONPATH`` to compare versions).
Only standard-library and polars code here: the same corpus runs against any version of the importer.
"""

from __future__ import annotations

import gzip
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures"
UM = FIXTURES / "archive" / "data" / "futures" / "um"
KLINES_5M = UM / "daily" / "klines" / "BTCUSDT" / "5m"
FUNDING_ZIP = UM / "monthly" / "fundingRate" / "BTCUSDT" / "BTCUSDT-fundingRate-2026-03.zip"
FORCE_ORDERS = FIXTURES / "csv" / "binance_force_orders_sample.csv"
KLINE_DAY = "2025-10-10"
#: The line a kline fault is put on (1-based, header counted).
BAD_LINE = 11


@dataclass(frozen=True)
class Hostile:
    """One hostile file: how to build it (in a folder), and words its rejection must contain."""

    name: str
    build: Callable[[Path], Path]
    expect: tuple[str, ...]
    what: str


def valid_files() -> list[Path]:
    """Real files imported beside each hostile one: two days of 5m klines, a month of funding, and a
    CSV export (Binance force orders)."""
    return [*sorted(KLINES_5M.glob("*.zip"))[1:3], FUNDING_ZIP, FORCE_ORDERS]


def zip_csv(path: Path) -> tuple[str, list[str]]:
    with zipfile.ZipFile(path) as zf:
        name = zf.namelist()[0]
        return name, zf.read(name).decode().splitlines()


def write_zip(path: Path, member: str, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, text)
    return path


KLINE_COLS = [
    *("open_time", "open", "high", "low", "close", "volume"),
    *("close_time", "quote_volume", "count", "taker_buy_volume"),
]


Value = str | Callable[[dict[str, str]], str]


def kline_fault(
    column: str, value: Value, line: int = BAD_LINE, also: dict[str, Value] | None = None
) -> Callable[[Path], Path]:
    """A real daily 5m kline zip with one value (and ``also`` these) of one line replaced."""

    def build(folder: Path) -> Path:
        member, lines = zip_csv(KLINES_5M / f"BTCUSDT-5m-{KLINE_DAY}.zip")
        fields = lines[line - 1].split(",")
        row = dict(zip(KLINE_COLS, fields, strict=False))
        for col, v in {column: value, **(also or {})}.items():
            fields[KLINE_COLS.index(col)] = v(row) if callable(v) else v
        lines[line - 1] = ",".join(fields)
        target = folder / "data/futures/um/daily/klines/BTCUSDT/5m" / f"BTCUSDT-5m-{KLINE_DAY}.zip"
        return write_zip(target, member, "\n".join(lines) + "\n")

    return build


def misfiled_symbol(folder: Path) -> Path:
    """BTC klines whose file name says ETHUSDT, in the BTCUSDT folder."""
    member, lines = zip_csv(KLINES_5M / f"BTCUSDT-5m-{KLINE_DAY}.zip")
    target = folder / "data/futures/um/daily/klines/BTCUSDT/5m" / f"ETHUSDT-5m-{KLINE_DAY}.zip"
    return write_zip(target, member.replace("BTC", "ETH"), "\n".join(lines) + "\n")


def force_orders_time(value: str) -> Callable[[Path], Path]:
    """The real force-orders export with one trade time replaced (a CSV-mapping format)."""

    def build(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        lines = FORCE_ORDERS.read_text().splitlines()
        head = lines[0].split(",")
        fields = lines[2].split(",")
        fields[head.index("trade_time_ms")] = value
        lines[2] = ",".join(fields)
        target = folder / f"hostile_{abs(hash(value)) % 10_000}_{FORCE_ORDERS.name}"
        target.write_text("\n".join(lines) + "\n")
        return target

    return build


def long_line(size: int) -> Callable[[Path], Path]:
    """The force-orders export whose third line is ``size`` bytes of digits and commas (no newline)."""

    def build(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        lines = FORCE_ORDERS.read_text().splitlines()
        target = folder / f"long_line_{FORCE_ORDERS.name}"
        with target.open("wb") as fh:
            fh.write(("\n".join(lines[:2]) + "\n").encode())
            chunk = b"1234567," * (1 << 17)  # 1 MiB
            left = size
            while left > 0:
                fh.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
            fh.write(b"\n" + "\n".join(lines[2:]).encode() + b"\n")
        return target

    return build


def near_miss_header(folder: Path) -> Path:
    """The force-orders export with one header column renamed (``usd_size`` → ``usd_value``)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = FORCE_ORDERS.read_text().replace("usd_size", "usd_value", 1)
    target = folder / "renamed_column_force_orders.csv"
    target.write_text(text)
    return target


def unbalanced_quote(folder: Path) -> Path:
    """A real kline file with a stray double quote opening a field that never closes."""
    member, lines = zip_csv(KLINES_5M / f"BTCUSDT-5m-{KLINE_DAY}.zip")
    fields = lines[BAD_LINE - 1].split(",")
    fields[1] = '"' + fields[1]
    lines[BAD_LINE - 1] = ",".join(fields)
    target = folder / "data/futures/um/daily/klines/BTCUSDT/5m" / f"BTCUSDT-5m-{KLINE_DAY}.zip"
    return write_zip(target, member, "\n".join(lines) + "\n")


def binary_garbage(folder: Path) -> Path:
    """Random bytes (a gzip of nothing CSV-like) named like an export."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "garbage.csv.gz"
    target.write_bytes(gzip.compress(bytes(range(256)) * 64))
    return target


def corpus(long_line_bytes: int = 64 << 20) -> list[Hostile]:
    """Every hostile file of the probe (issue 21), with the words its rejection must contain."""
    return [
        Hostile(
            "time 1e30 (CSV mapping)",
            force_orders_time("1e30"),
            ("row 3", "1e30", "too large"),
            "time too large for int64",
        ),
        Hostile(
            "time -1e19 (CSV mapping)",
            force_orders_time("-1e19"),
            ("row 3", "-1e19"),
            "time too large for int64",
        ),
        Hostile(
            "time of 60 digits (CSV mapping)",
            force_orders_time("9" * 60),
            ("row 3", "999999"),
            "time too large for int64",
        ),
        Hostile(
            "negative low", kline_fault("low", "-1.0"), (f"row {BAD_LINE}", "low -1.0"), " negative price"
        ),
        Hostile(
            "negative volume",
            kline_fault("volume", "-5.0"),
            (f"row {BAD_LINE}", "volume_base -5.0 is negative"),
            "negative volume",
        ),
        Hostile(
            "high below low",
            kline_fault("high", lambda r: str(float(r["low"]) - 100)),
            (f"row {BAD_LINE}", "is below low"),
            "inconsistent bar",
        ),
        Hostile(
            "zero open",
            kline_fault("open", "0"),
            (f"row {BAD_LINE}", "open 0.0 is not a positive price"),
            "zero price",
        ),
        Hostile(
            "NaN volume",
            kline_fault("volume", "NaN"),
            (f"row {BAD_LINE}", "volume_base nan is not finite"),
            "NaN",
        ),
        Hostile(
            "close 1e308",
            kline_fault("close", "1e308"),
            (f"row {BAD_LINE}", "close 1e+308 is not a price"),
            "absurd price",
        ),
        Hostile(
            "infinite open",
            kline_fault("open", "inf"),
            (f"row {BAD_LINE}", "'open' is not a finite number"),
            "infinite price",
        ),
        Hostile(
            "bar from 2005",
            kline_fault("open_time", "1104537600000", line=2, also={"close_time": "1104537899999"}),
            ("row 2", "2005-01-01", "outside 2009-01-01"),
            "time before 2009",
        ),
        Hostile(
            "file name ETHUSDT in the BTCUSDT folder",
            misfiled_symbol,
            ("file name says ETHUSDT", "folder says BTCUSDT"),
            "symbol mismatch",
        ),
        Hostile(
            f"a {long_line_bytes >> 20} MiB line",
            long_line(long_line_bytes),
            ("row 3", "line longer than"),
            "huge line",
        ),
        Hostile(
            "header with one renamed column",
            near_miss_header,
            ("tried", "closest: binance_force_orders", "missing usd_size", "unexpected usd_value"),
            "unrecognized format",
        ),
        Hostile(
            "unbalanced double quote",
            unbalanced_quote,
            (f"row {BAD_LINE}", "unbalanced double quote"),
            "unparseable CSV",
        ),
        Hostile("binary garbage named .csv.gz", binary_garbage, ("not text", "tried"), "unrecognized format"),
    ]


def answer(hostile: Hostile, work: Path) -> dict[str, object]:
    """Import the valid files and one hostile file into a fresh store; say what happened."""
    from perpscope.ingest.importer import import_paths
    from perpscope.store import Lake

    folder = work / "in"
    folder.mkdir(parents=True)
    bad = hostile.build(folder)
    lake = Lake(work / "data")
    valid = valid_files()
    t0 = time.perf_counter()
    try:
        report = import_paths([*valid, bad], lake)
    except BaseException as exc:
        return {
            "answer": f"CRASH {type(exc).__name__}: {str(exc)[:160]}",
            "valid_imported": 0,
            "stored_bad": None,
            "seconds": time.perf_counter() - t0,
            "trace": traceback.format_exc(limit=2),
        }
    seconds = time.perf_counter() - t0
    by_path = {f.path: f for f in report.files}
    r = by_path[bad]
    return {
        "answer": r.error or r.skipped or f"STORED {sum(r.rows.values())} rows",
        "valid_imported": sum(1 for p in valid if by_path[p].error is None and by_path[p].skipped is None),
        "stored_bad": r.error is None and r.skipped is None,
        "seconds": seconds,
    }


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 64 << 20
    for h in corpus(size):
        work = Path(tempfile.mkdtemp(prefix="hostile-"))
        try:
            a = answer(h, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        valid = f"valid imported {a['valid_imported']}/{len(valid_files())}"
        print(f"- {h.name}: {valid}, {a['seconds']:.1f}s; {a['answer']}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
