"""The demo's chapter on the crash of 10 Oct 2025 (``perpscope.cli.demo_crash``): with the team's shared
data beside the project it tells the crash from the CoinGlass exports (numbers checked against the raw
files, not the code); without it, one line says why it is skipped."""

from __future__ import annotations

import gzip
import io
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pytest

from perpscope.cli import demo_crash
from perpscope.cli.demo import demo_data_dir
from perpscope.core.format import usd_text
from perpscope.core.time import HOUR_MS, parse_time_ms

CRASH = parse_time_ms("2025-10-10T20:00")


def _csv(path: Path) -> pl.DataFrame:
    return pl.read_csv(io.BytesIO(gzip.decompress(path.read_bytes())))


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_without_shared_data_the_chapter_says_in_one_line_why_it_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(demo_crash.SHARED_ENV, str(tmp_path / "no-such-folder"))
    monkeypatch.setenv("COLUMNS", "200")
    assert demo_crash.shared_data_dir() is None
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert demo_crash.crash_chapter(tmp_path / "out", demo_data_dir(), pool, png=False) is None
    out = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(out) == 1, out
    assert "10 Oct 2025 chapter is skipped" in out[0] and "coinglass_liquidity_report" in out[0]
    assert str(tmp_path / "no-such-folder") in out[0]
    assert not (tmp_path / "out").exists()  # nothing imported, nothing written


def test_with_shared_data_the_chapter_tells_the_crash_bar_from_the_raw_files(
    demo_session: tuple[Path, str], shared_data: Path
) -> None:
    data, output = demo_session
    flat = _flat(output)
    assert "The crash of 10 Oct 2025: BTC-USDT-PERP" in flat
    report = shared_data / "coinglass_liquidity_report"
    liq = _csv(report / "liquidations_binance_4h_BTC_ETH_SOL_XRP.csv.gz").filter(
        (pl.col("coin") == "BTC") & (pl.col("time_ms") == CRASH)
    )
    oi = _csv(report / "open_interest_aggregated_all_exchanges_4h_BTC_ETH_SOL_XRP.csv.gz").filter(
        (pl.col("coin") == "BTC") & (pl.col("margin") == "all")
    )
    # OI known at each bar's end: the CoinGlass bar's close
    before = oi.filter(pl.col("time_ms") == CRASH - 4 * HOUR_MS)["close"][0]
    after = oi.filter(pl.col("time_ms") == CRASH)["close"][0]
    k5 = _csv(next(demo_data_dir().glob("BTCUSDT_perp_5m_*.csv.gz")))
    low = k5.filter(pl.col("open_time_ms").is_between(CRASH, CRASH + 4 * HOUR_MS, closed="left"))["low"].min()
    sentence = re.search(r"In the 2025-10-10 20:00 UTC bar the price fell .*? of shorts\.", flat)
    assert sentence, flat
    s = sentence.group(0)
    assert f"low of {low:,.1f}" in s
    assert f"{usd_text(before)} → {usd_text(after)}" in s
    assert f"liquidated {usd_text(liq['long_liq_usd'][0])} of longs" in s
    assert f"{usd_text(liq['short_liq_usd'][0])} of shorts" in s
    # the regime reading, the heatmap of the last bar before the crash, the cascade at that moment
    assert "all:BTC-USDT-PERP at 2025-10-10 20:00 UTC" in flat
    assert "hot zones after the bar of 2025-10-10 16:00 UTC" in flat
    assert "BTC-USDT-PERP at 2025-10-10 20:00 UTC, before the crash: cascade by shock size" in flat
    assert "Hot zones the next 24h reached" in flat
    # the chapter's store is its own: the demo store keeps its one window
    out = data.parent
    assert (out / "crash" / "data").is_dir() and (out / "heatmap-BTCUSDT-2025-10-10.html").is_file()
    page = (out / "report.html").read_text()
    for anchor in ("crash", "crash-heatmap", "crash-cascade"):
        assert f'id="{anchor}"' in page or f"id={anchor}" in page, anchor


def test_the_chapter_fits_80_columns(demo_session: tuple[Path, str], shared_data: Path) -> None:
    _, output = demo_session
    chapter = output[output.index("The crash of 10 Oct 2025") :]
    wide = [line for line in chapter.splitlines() if len(line) > 80 and "/" not in line]  # paths: long
    assert not wide, wide


def test_hot_zones_reached_are_those_the_bars_ranges_crossed() -> None:
    """A long zone counts as reached by the first bar whose low is at or under its top; a short zone by
    the first whose high is at or over its bottom; the bar's liquidations of that side come with it."""
    ms = [CRASH, CRASH + 4 * HOUR_MS]
    panel = pl.DataFrame(
        {
            "ts_ms": pl.Series(ms).cast(pl.Datetime("ms")),
            "low": [105.0, 90.0],
            "high": [112.0, 101.0],
            "liq_long_usd": [1e6, 5e6],
            "liq_short_usd": [2e6, 3e6],
        }
    )
    zones = pl.DataFrame(
        {
            "side": ["long", "long", "short", "short"],
            "rank": [1, 2, 1, 2],
            "price_lo": [100.0, 80.0, 111.0, 120.0],
            "price_hi": [101.0, 85.0, 113.0, 121.0],
            "price_mid": [100.5, 82.5, 112.0, 120.5],
            "usd": [1e7, 2e7, 3e7, 4e7],
            "distance_pct": [-5.0, -20.0, 7.0, 15.0],
        }
    )
    r = demo_crash.reached(zones, panel, CRASH, CRASH + 8 * HOUR_MS)
    assert r["reached_ms"].to_list() == [ms[1], None, ms[0], None]
    assert r["liq_usd"].to_list() == [5e6, None, 2e6, None]
