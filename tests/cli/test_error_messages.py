"""Errors that say what to do, on the store ``perpscope demo`` leaves (one test per message): the range
asked and what the store holds instead, reversed and empty ranges named as such, ccxt's unified symbols
read right, the nearest symbols for a typo, a bar length that fits. No internal name leaks out."""

from __future__ import annotations

import gzip
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from perpscope.cli.demo import demo_data_dir
from perpscope.cli.main import app
from perpscope.records import from_ccxt

runner = CliRunner()
INTERNAL = re.compile(r"Traceback|build_panel|StopIteration|_frames|\d{13} ms")


@pytest.fixture
def store(demo_session: tuple[Path, str]) -> Path:
    return demo_session[0]


def run(store: Path, *args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["--data-dir", str(store), *args], env={"COLUMNS": "400"})
    assert not INTERNAL.search(res.output), res.output
    return res.exit_code, " ".join(res.output.split())


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def test_no_data_in_the_range_names_it_and_what_the_store_holds(store: Path) -> None:
    raw = next(demo_data_dir().glob("BTCUSDT_perp_5m_*.csv.gz"))
    t = pl.read_csv(io.BytesIO(gzip.decompress(raw.read_bytes()))).get_column("open_time_ms")
    code, out = run(store, "metrics", "BTCUSDT", "--from", "2024-01-01", "--to", "2024-02-01")
    assert code == 2
    assert "from 2024-01-01 to 2024-02-01" in out
    # the bundled 5m file's own first and last bars, as the store holds them
    assert f"candles 5m {_day(t.min())}→{_day(t.max())}" in out, out


def test_a_reversed_range_is_called_reversed(store: Path) -> None:
    for command in ("metrics", "regimes", "heatmap"):
        code, out = run(store, command, "BTCUSDT", "--from", "2026-03-10", "--to", "2026-03-01")
        assert code == 2 and "reversed" in out and "swap" in out, (command, out)


def test_an_empty_range_is_called_empty(store: Path) -> None:
    code, out = run(store, "regimes", "BTCUSDT", "--from", "2026-03-10", "--to", "2026-03-10")
    assert code == 2 and "range is empty" in out and "exclusive" in out


def test_ccxt_perp_symbol_reads_the_perp(store: Path) -> None:
    ccxt = run(store, "metrics", "BTC/USDT:USDT", "--rows", "3")
    plain = run(store, "metrics", "BTCUSDT", "--rows", "3")
    assert ccxt[0] == 0 and ccxt == plain


def test_ccxt_spot_symbol_is_not_taken_for_the_perp(store: Path) -> None:
    code, out = run(store, "metrics", "BTC/USDT")
    assert code == 2 and "spot market BTC-USDT-SPOT" in out and "BTC/USDT:USDT" in out and "BTCUSDT" in out


def test_a_typo_gets_the_nearest_symbols(store: Path) -> None:
    code, out = run(store, "metrics", "BTCUSD")
    assert code == 2 and "Did you mean BTCUSDT" in out


def test_an_unknown_coin_says_the_store_holds_nothing_of_it(store: Path) -> None:
    code, out = run(store, "regimes", "FOO")
    assert code == 2 and "holds nothing for FOO" in out and "perpscope import" in out


def test_a_bar_length_that_fits_no_stored_bars_says_which_do(store: Path) -> None:
    code, out = run(store, "metrics", "BTCUSDT", "--every", "7m")
    assert code == 2 and "The price bars there are 1h" in out and "multiple" in out


@pytest.mark.parametrize(
    ("ccxt", "canonical"),
    [
        ("BTC/USDT:USDT", "BTC-USDT-PERP"),
        ("ETH/USD:ETH", "ETH-USD-PERP"),
        ("BTC/USDT:USDT-251226", "BTC-USDT-251226"),
        ("SOL/USDC", "SOL-USDC-SPOT"),
        ("btc/usdt:usdt", "BTC-USDT-PERP"),
        ("BTCUSDT", None),
        ("BTC-USDT-PERP", None),
    ],
)
def test_from_ccxt(ccxt: str, canonical: str | None) -> None:
    assert from_ccxt(ccxt) == canonical


def test_heatmap_json_holds_the_zones_the_table_shows(store: Path, tmp_path: Path) -> None:
    import json

    res = runner.invoke(app, ["--data-dir", str(store), "heatmap", "BTCUSDT", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert {z["side"] for z in doc["zones"]} == {"long", "short"}
    for z in doc["zones"]:  # longs below the price, shorts above
        assert (z["price_hi"] <= doc["price"]) if z["side"] == "long" else (z["price_lo"] >= doc["price"])
    assert any(line.startswith("open_interest:") for line in doc["sources"])


def test_cascade_json_is_valid_json_with_the_fragility_curve(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    monkeypatch.chdir(tmp_path)
    res = runner.invoke(
        app, ["--data-dir", str(store), "cascade", "BTCUSDT", "--paths", "50", "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    shocks = [r["shock_pct"] for r in doc["fragility"]]
    assert -3.0 in shocks and 3.0 in shocks
    assert {r["measure"] for r in doc["outcome"]} >= {"final move", "liquidated USD"}
