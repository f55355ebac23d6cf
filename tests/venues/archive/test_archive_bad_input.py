"""Bad archive files raise InputError naming the file, the 1-based file line and the problem.

A parser returns every frame of a file or raises; there is no partial result to check beyond that.
Each bad file is a real fixture with one defect put in.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from archive_helpers import KLINES_5M, METRICS_HEADER, UM, write_zip, zip_text

from perpscope.core.errors import InputError
from perpscope.venues.archive import parse_file

KLINE_DIR = "data/futures/um/daily/klines/BTCUSDT/5m"
KLINE_NAME = "BTCUSDT-5m-2025-10-10.zip"


def kline_lines() -> list[str]:
    """Header + 288 rows of the real 2025-10-10 5m fixture."""
    return zip_text(KLINES_5M / KLINE_NAME).strip("\n").split("\n")


def bad(tmp_path: Path, rel: str, text: str | bytes) -> Path:
    return write_zip(tmp_path / rel, text)


def raises(path: Path, row: int | None, *words: str) -> InputError:
    with pytest.raises(InputError) as info:
        parse_file(path)
    err = info.value
    assert path.name in err.path, err.path
    assert err.row == row, str(err)
    for w in words:
        assert w in str(err), str(err)
    return err


def with_line(lines: list[str], i: int, new: str) -> str:
    """The file with line ``i`` (1-based) replaced."""
    out = list(lines)
    out[i - 1] = new
    return "\n".join(out) + "\n"


def test_empty_file(tmp_path: Path) -> None:
    raises(bad(tmp_path, f"{KLINE_DIR}/{KLINE_NAME}", ""), None, "empty")


def test_header_only(tmp_path: Path) -> None:
    raises(bad(tmp_path, f"{KLINE_DIR}/{KLINE_NAME}", kline_lines()[0] + "\n"), None, "no data rows")


def test_zero_byte_zip(tmp_path: Path) -> None:
    p = tmp_path / KLINE_DIR / KLINE_NAME
    p.parent.mkdir(parents=True)
    p.write_bytes(b"")
    raises(p, None, "cannot read")


def test_truncated_zip(tmp_path: Path) -> None:
    data = (KLINES_5M / KLINE_NAME).read_bytes()
    p = tmp_path / KLINE_DIR / KLINE_NAME
    p.parent.mkdir(parents=True)
    p.write_bytes(data[: len(data) // 2])
    raises(p, None, "truncated")


def test_wrong_column_count(tmp_path: Path) -> None:
    lines = [",".join(line.split(",")[:11]) for line in kline_lines()]
    raises(bad(tmp_path, f"{KLINE_DIR}/{KLINE_NAME}", "\n".join(lines)), 1, "expected 12", "found 11")


def test_a_short_line(tmp_path: Path) -> None:
    lines = kline_lines()
    short = ",".join(lines[40].split(",")[:9])
    raises(bad(tmp_path, f"{KLINE_DIR}/{KLINE_NAME}", with_line(lines, 41, short)), 41, "expected 12 fields")


def test_a_long_line(tmp_path: Path) -> None:
    lines = kline_lines()
    raises(
        bad(tmp_path, f"{KLINE_DIR}/{KLINE_NAME}", with_line(lines, 100, lines[99] + ",7")), 100, "found 13"
    )


def test_non_numeric_value(tmp_path: Path) -> None:
    lines = kline_lines()
    fields = lines[9].split(",")
    fields[2] = "12x.5"
    err = raises(
        bad(tmp_path, f"{KLINE_DIR}/{KLINE_NAME}", with_line(lines, 10, ",".join(fields))), 10, "high"
    )
    assert "12x.5" in str(err)


def test_non_numeric_value_in_headerless_file(tmp_path: Path) -> None:
    lines = kline_lines()[1:]
    fields = lines[4].split(",")
    fields[5] = "n/a"
    raises(bad(tmp_path, f"{KLINE_DIR}/{KLINE_NAME}", with_line(lines, 5, ",".join(fields))), 5, "volume")


def test_empty_required_value(tmp_path: Path) -> None:
    lines = kline_lines()
    fields = lines[6].split(",")
    fields[4] = ""
    raises(
        bad(tmp_path, f"{KLINE_DIR}/{KLINE_NAME}", with_line(lines, 7, ",".join(fields))), 7, "close", "empty"
    )


def test_duplicate_bar(tmp_path: Path) -> None:
    lines = kline_lines()
    raises(bad(tmp_path, f"{KLINE_DIR}/{KLINE_NAME}", with_line(lines, 51, lines[49])), 51, "repeats")


def test_bar_going_backwards(tmp_path: Path) -> None:
    lines = kline_lines()
    lines[60], lines[61] = lines[61], lines[60]  # file lines 61 and 62 swapped
    raises(bad(tmp_path, f"{KLINE_DIR}/{KLINE_NAME}", "\n".join(lines)), 62, "goes backwards")


def test_interval_does_not_match_the_name(tmp_path: Path) -> None:
    rel = "data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2025-10-10.zip"
    raises(bad(tmp_path, rel, "\n".join(kline_lines())), 2, "300000 ms", "60000 ms")


def test_mixed_time_units(tmp_path: Path) -> None:
    lines = kline_lines()[1:]
    f = lines[3].split(",")
    f[0], f[6] = f[0] + "000", f[6] + "999"
    raises(bad(tmp_path, f"{KLINE_DIR}/{KLINE_NAME}", with_line(lines, 4, ",".join(f))), 4, "same unit")


def test_agg_trades_bad_bool_and_duplicate_id(tmp_path: Path) -> None:
    rel = "data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-27.zip"
    lines = zip_text(UM / "daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2025-01-27.zip").strip().split("\n")
    f = lines[5].split(",")
    f[6] = "maybe"
    raises(bad(tmp_path, rel, with_line(lines, 6, ",".join(f))), 6, "is_buyer_maker", "maybe")
    f = lines[8].split(",")
    f[0] = lines[7].split(",")[0]
    raises(bad(tmp_path, rel, with_line(lines, 9, ",".join(f))), 9, "agg_trade_id", "repeats")


def test_funding_duplicate_settlement(tmp_path: Path) -> None:
    rel = "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2026-03.zip"
    lines = zip_text(UM / "monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2026-03.zip").strip().split("\n")
    t = int(lines[3].split(",")[0])
    dup = f"{t + 3},8,0.0001"  # 3 ms later: the same settlement once rounded to the second
    raises(bad(tmp_path, rel, with_line(lines, 5, dup)), 5, "repeats")


def test_metrics_duplicate_and_malformed_time(tmp_path: Path) -> None:
    rel = "data/futures/um/daily/metrics/SOLUSDT/SOLUSDT-metrics-2026-06-24.zip"
    lines = zip_text(UM / "daily/metrics/SOLUSDT/SOLUSDT-metrics-2026-06-24.zip").strip().split("\n")
    raises(bad(tmp_path, rel, with_line(lines, 8, lines[2])), 8, "create_time", "repeats")
    f = lines[4].split(",")
    f[0] = "2026-06-24T03:00"
    raises(bad(tmp_path, rel, with_line(lines, 5, ",".join(f))), 5, "create_time", "YYYY-MM-DD HH:MM:SS")
    f = lines[4].split(",")
    f[3] = "-5"
    raises(bad(tmp_path, rel, with_line(lines, 5, ",".join(f))), 5, "sum_open_interest_value")


def test_metrics_short_line_is_not_read_as_empty_ratios(tmp_path: Path) -> None:
    rel = "data/futures/um/daily/metrics/SOLUSDT/SOLUSDT-metrics-2026-06-24.zip"
    text = METRICS_HEADER + "\n2026-06-24 00:00:00,SOLUSDT,3354143.14,234588771.3105,,,2.85,0.59\n"
    text += "2026-06-24 01:00:00,SOLUSDT,3326288.11,232973219.3381,,\n"
    raises(bad(tmp_path, rel, text), 3, "expected 8 fields")


def test_metrics_two_symbols(tmp_path: Path) -> None:
    rel = "data/futures/um/daily/metrics/SOLUSDT/SOLUSDT-metrics-2026-06-24.zip"
    lines = zip_text(UM / "daily/metrics/SOLUSDT/SOLUSDT-metrics-2026-06-24.zip").strip().split("\n")
    raises(bad(tmp_path, rel, with_line(lines, 4, lines[3].replace("SOLUSDT", "ETHUSDT"))), 4, "one symbol")


def test_book_depth_repeated_band_and_bad_time(tmp_path: Path) -> None:
    rel = "data/futures/um/daily/bookDepth/BTCUSDT/BTCUSDT-bookDepth-2025-10-10.zip"
    head = "timestamp,percentage,depth,notional\n"
    rows = "2025-10-10 00:00:08,-1,700.25,85000000.5\n2025-10-10 00:00:08,1,650.75,79500000.0\n"
    raises(bad(tmp_path, rel, head + rows + "2025-10-10 00:00:08,1,651.0,79600000.0\n"), 4, "repeats")
    raises(bad(tmp_path, rel, head + rows + "2025-10-10 00:00:07,1,651.0,79600000.0\n"), 4, "goes backwards")
    raises(bad(tmp_path, rel, head + rows + "10/10/2025 00:00:38,1,651.0,79600000.0\n"), 4, "timestamp")


def test_liquidation_unknown_side(tmp_path: Path) -> None:
    rel = "data/futures/um/daily/liquidationSnapshot/BTCUSDT/BTCUSDT-liquidationSnapshot-2025-01-27.zip"
    src = UM / "daily/liquidationSnapshot/BTCUSDT/BTCUSDT-liquidationSnapshot-2025-01-27.zip"
    lines = zip_text(src).strip().split("\n")
    raises(bad(tmp_path, rel, with_line(lines, 3, lines[2].replace("SELL", "HOLD"))), 3, "BUY or SELL")


def test_unknown_symbol_quote(tmp_path: Path) -> None:
    p = bad(
        tmp_path, "data/futures/um/daily/klines/BTCXYZ/5m/BTCXYZ-5m-2025-10-10.zip", "\n".join(kline_lines())
    )
    raises(p, None, "BTCXYZ", "quote")
