"""``perpscope store info``: the per-coin summary at 80 columns, filters, details, JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from perpscope.cli import store_cmd
from perpscope.cli.main import COMMANDS, app
from perpscope.core.time import DAY_MS, HOUR_MS, MINUTE_MS
from perpscope.records import CANDLES, LIQUIDATIONS, OPEN_INTEREST
from perpscope.store import Lake

runner = CliRunner()
T0 = 1759708800000  # 2025-10-06 00:00 UTC
OLD = 1567296000000  # 2019-09-01 00:00 UTC


def _candles(
    canonical: str, venue: str, start: int, n: int, step: int, skip: tuple[int, ...] = ()
) -> pl.DataFrame:
    base, quote, _ = canonical.split("-")
    return pl.DataFrame(
        {
            "venue": venue,
            "symbol": base + quote,
            "canonical": canonical,
            "market": "perp",
            "price_type": "trade",
            "interval_ms": step,
            "ts_ms": [start + i * step for i in range(n) if i not in skip],
            "open": 1.0,
            "high": 2.0,
            "low": 0.5,
            "close": 1.5,
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """BTC with candles on binance since 2019 and OI on a long-named pseudo-venue; ETH and SOL candles."""
    data = tmp_path / "data"
    lake = Lake(data)
    lake.write(CANDLES, _candles("BTC-USDT-PERP", "binance", OLD, 400, DAY_MS))
    lake.write(CANDLES, _candles("BTC-USDT-PERP", "binance", T0, 288, 5 * MINUTE_MS, skip=(7, 8)))
    lake.write(
        OPEN_INTEREST,
        pl.DataFrame(
            {
                "venue": "all-volume-weighted",
                "symbol": "BTCUSDT",
                "canonical": "BTC-USDT-PERP",
                "interval_ms": HOUR_MS,
                "ts_ms": [T0 + i * HOUR_MS for i in range(12)],
                "oi_base": 1.0,
                "oi_usd": 1_234_567_890.0,
            }
        ),
    )
    lake.write(
        LIQUIDATIONS,
        pl.DataFrame(
            {
                "venue": "binance",
                "symbol": "BTCUSDT",
                "canonical": "BTC-USDT-PERP",
                "ts_ms": [T0 + 1, T0 + 2],
                "side": ["long", "short"],
                "price": [60_000.0, 61_000.0],
                "qty_base": 1.0,
                "notional_usd": [60_000.0, 61_000.0],
            }
        ),
    )
    lake.write(CANDLES, _candles("ETH-USDT-PERP", "binance", T0, 24, HOUR_MS))
    lake.write(CANDLES, _candles("SOL-USDT-PERP", "bybit", T0, 3, HOUR_MS))
    return data


def info(data: Path, *args: str, columns: int = 80) -> str:
    res = runner.invoke(app, ["--data-dir", str(data), "store", "info", *args], env={"COLUMNS": str(columns)})
    assert res.exit_code == 0, res.output
    return res.output


def test_summary_fits_80_columns_with_whole_dates_and_numbers(store: Path) -> None:
    out = info(store)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in out  # nothing cut short, no "more coins" line for three coins
    btc = next(i for i, line in enumerate(lines) if line.startswith("BTC "))
    assert lines[btc].split() == ["BTC", "binance", "2019-09-01", "2025-10-06", "688", "yes"]
    assert "candles 5m·1d, liquidations" in lines[btc + 1]
    oi = next(line for line in lines if "all-volume-weighted" in line)
    assert oi.split() == ["all-volume-weighted", "2025-10-06", "2025-10-06", "12", "no"]
    # most complete coin first: BTC (3 records) before ETH (1 record, 24 rows) before SOL (3 rows)
    assert out.index("BTC ") < out.index("ETH ") < out.index("SOL ")
    assert "3 coin(s) · 3 venue(s) · 3 record(s) · 727 rows" in out


def test_wide_terminal_puts_records_beside_the_figures(store: Path) -> None:
    line = next(ln for ln in info(store, columns=160).splitlines() if ln.startswith("BTC "))
    assert line.split()[:6] == ["BTC", "binance", "2019-09-01", "2025-10-06", "688", "yes"]
    assert line.rstrip().endswith("candles 5m·1d, liquidations")


def test_default_listing_is_capped_with_a_way_to_see_the_rest(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_cmd, "TOP_COINS", 2)
    monkeypatch.setattr(store_cmd, "TOP_VENUES", 1)
    out = info(store)
    assert "SOL" not in out and "… 1 more coin: `perpscope store info --all` or `--coin X`" in out
    assert "all-volume-weighted" not in out and "… 1 more venue: `--coin BTC`" in out
    assert "SOL" in info(store, "--all")
    assert "all-volume-weighted" in info(store, "--coin", "BTC")


def test_filters(store: Path) -> None:
    out = info(store, "--coin", "btc", "--venue", "binance")
    assert "BTC" in out and "ETH" not in out and "all-volume-weighted" not in out
    out = info(store, "--record", "candles")
    assert "liquidations" not in out and "open_interest" not in out and "SOL" in out
    assert "1 coin(s)" in info(store, "--symbol", "ETHUSDT")
    assert "1 coin(s)" in info(store, "--symbol", "SOL-USDT-PERP", "--venue", "bybit")
    res = runner.invoke(
        app, ["--data-dir", str(store), "store", "info", "--coin", "BTX"], env={"COLUMNS": "200"}
    )
    assert res.exit_code == 2 and "no 'BTX' in the store (did you mean BTC" in res.output
    res = runner.invoke(
        app, ["--data-dir", str(store), "store", "info", "-r", "candle"], env={"COLUMNS": "200"}
    )
    assert res.exit_code == 2 and "unknown record candle; records are: candles" in res.output


def test_details_list_every_series_with_its_first_gap(store: Path) -> None:
    out = info(store, "--coin", "BTC", "--details")
    assert "BTC-USDT-PERP · binance · candles" in out and "BTC-USDT-PERP · all-volume-weighted" in out
    five = next(line for line in out.splitlines() if "trade 5m" in line)
    assert five.split()[:8] == ["trade", "5m", "286", "2025-10-06", "00:00", "→", "2025-10-06", "23:55"]
    assert "first gap 2025-10-06 00:30 → 2025-10-06 00:45" in out
    assert "ETH" not in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_json_lines_keep_the_coverage_fields(store: Path) -> None:
    out = info(store, "--json", "--record", "candles")
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 4  # BTC 1d and 5m, ETH 1h, SOL 1h
    fields = {"record", "venue", "canonical", "series", "rows", "first_ms", "last_ms", "interval_ms"}
    assert all(fields | {"gaps", "missing_ms", "gap_list", "sources"} <= set(r) for r in rows)
    five = next(r for r in rows if r["series"] == "trade 5m")
    assert (five["rows"], five["gaps"], five["gap_list"]) == (286, 1, [[T0 + 6 * 300_000, T0 + 9 * 300_000]])


def test_empty_store_says_how_to_fill_it(tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    out = info(tmp_path / "nothing", columns=200)
    assert "is empty" in out and "perpscope import PATH" in out


def test_a_missing_folder_is_an_error_not_an_empty_store(tmp_path: Path) -> None:
    res = runner.invoke(app, ["--data-dir", str(tmp_path / "typo"), "store", "info"], env={"COLUMNS": "200"})
    assert res.exit_code == 2
    assert "does not exist" in res.output and "is empty" not in res.output


def test_the_demo_folder_is_read_through_its_data_folder(store: Path) -> None:
    """``--data-dir perpscope-demo`` (the demo's --out) reads ``perpscope-demo/data``, and says so."""
    res = runner.invoke(app, ["--data-dir", str(store.parent), "store", "info"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "holds no store but" in res.output and "BTC" in res.output


def test_every_lazily_loaded_command_answers_help() -> None:
    listing = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert listing.exit_code == 0 and all(name in listing.output for name in COMMANDS)
    for name in COMMANDS:
        res = runner.invoke(app, [name, "--help"], env={"COLUMNS": "200"})
        assert res.exit_code == 0 and "Usage" in res.output, (name, res.output)


@pytest.mark.shared
def test_shared_data_summary_names_btc_binance_records(shared_data: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    res = runner.invoke(app, ["--data-dir", str(data), "import", str(shared_data)], env={"COLUMNS": "300"})
    assert "imported" in res.output, res.output
    out = info(data, "--coin", "BTC", "--venue", "binance")
    line = next(ln for ln in out.splitlines() if ln.startswith("BTC "))
    coin, venue, first, last, *_ = line.split()
    assert (coin, venue) == ("BTC", "binance")
    assert first.startswith("2019-") and last.startswith("2026-")
    held = out[out.index(line) :]
    assert "candles " in held and "open_interest " in held
    assert "…" not in out and max(len(ln) for ln in out.splitlines()) <= 80


def test_with_no_store_named_or_at_home_the_demo_store_here_is_read(
    store: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a new user has after ``make demo``: no store at the default place, ``perpscope-demo/data``
    in the current folder. Commands that read find it and say so; one named by --data-dir is kept."""
    here = tmp_path_factory.mktemp("cwd")
    (here / "perpscope-demo").symlink_to(store.parent)  # perpscope-demo/data is the store
    monkeypatch.chdir(here)
    monkeypatch.delenv("PERPSCOPE_DATA", raising=False)
    env = {"COLUMNS": "200", "XDG_DATA_HOME": str(here / "xdg")}
    res = runner.invoke(app, ["store", "info"], env=env)
    assert res.exit_code == 0, res.output
    assert "reading the demo's store perpscope-demo/data" in res.output and "BTC" in res.output
    (here / "named").mkdir()
    named = runner.invoke(app, ["--data-dir", str(here / "named"), "store", "info"], env=env)
    assert "is empty" in named.output and "demo's store" not in named.output


def test_store_compact_folds_live_parts_and_reads_the_same(tmp_path: Path) -> None:
    from tests.store.test_parts import bars

    from perpscope.store.parts import is_part
    from perpscope.store.reader import read

    lk = Lake(tmp_path / "data")
    lk.write(CANDLES, bars([0, 1, 2], [1.0, 2.0, 3.0]))
    lk.append(CANDLES, bars([2, 3], [4.0, 5.0]))  # a live flush revising bar 2 and adding bar 3
    lk.append(CANDLES, bars([13], [6.0]))  # the next month
    before = read(lk, "candles")
    res = CliRunner().invoke(app, ["--data-dir", str(lk.root), "store", "compact"])
    assert res.exit_code == 0, res.output
    assert "folded 2 part files into 2 month files" in res.output
    assert not [p for p in lk.root.rglob("*.parquet") if is_part(p)]
    assert read(lk, "candles").equals(before)
    assert before.get_column("close").to_list() == [1.0, 2.0, 4.0, 5.0, 6.0]
