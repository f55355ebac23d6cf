"""The backfill / collect / status commands, run through typer against loopback Binance servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "venues" / "binance"))

from binance_servers import FakeBinanceRest, liquidation_socket

from perpscope.cli.collect_cmd import backfill, collect, status
from perpscope.store import Lake
from perpscope.store.reader import read

H = 3600_000
T0 = 1_700_000_000_000 // H * H


def app() -> typer.Typer:
    a = typer.Typer()
    a.command("backfill")(backfill)
    a.command("collect")(collect)
    a.command("collect-status")(status)
    return a


def test_backfill_command_fetches_and_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERPSCOPE_DATA", str(tmp_path / "data"))
    with FakeBinanceRest() as srv:
        srv.klines["BTCUSDT"] = [
            [T0 + i * H, "1", "2", "0.5", "1.5", "10", T0 + (i + 1) * H - 1, "15", 3, "4", "6", "0"]
            for i in range(50)
        ]
        res = CliRunner().invoke(
            app(),
            [
                "backfill",
                "--symbols",
                "BTCUSDT",
                "--streams",
                "klines:1h",
                "--since",
                str(T0),
                "--until",
                str(T0 + 50 * H),
                "--rest-url",
                srv.url,
            ],
        )
    assert res.exit_code == 0, res.output
    assert "50" in res.output
    assert read(Lake(tmp_path / "data"), "candles").height == 50


def test_backfill_command_rejects_bad_input_plainly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERPSCOPE_DATA", str(tmp_path / "data"))
    res = CliRunner().invoke(app(), ["backfill", "--venue", "kraken", "--since", "2025-01-01"])
    assert res.exit_code == 2 and "not available here yet" in res.output
    res = CliRunner().invoke(app(), ["backfill", "--streams", "open_interest:1m", "--since", "2025-01-01"])
    assert res.exit_code == 2 and "period must be one of" in res.output


def test_backfill_command_region_block_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERPSCOPE_DATA", str(tmp_path / "data"))
    with FakeBinanceRest() as srv:
        srv.always["/fapi/v1/klines"] = (451, {})
        res = CliRunner().invoke(
            app(),
            [
                "backfill",
                "--streams",
                "klines:1h",
                "--since",
                str(T0),
                "--until",
                str(T0 + H),
                "--rest-url",
                srv.url,
            ],
        )
        assert len(srv.requests) == 1
    assert res.exit_code == 1 and "451" in res.output


def test_collect_process_stops_cleanly_on_sigterm_and_status_shows_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = liquidation_socket(100, linger_s=30)
    with FakeBinanceRest() as rest:
        code = (
            "import sys, typer; from perpscope.cli.collect_cmd import collect; "
            "a = typer.Typer(); a.command()(collect); a.command('x')(lambda: None); a()"
        )
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                code,
                "collect",
                "--streams",
                "liquidations",
                "--quiet",
                "--flush-seconds",
                "30",
                "--rest-url",
                rest.url,
                "--ws-url",
                f"ws://127.0.0.1:{port}",
            ],
            env={**os.environ, "PERPSCOPE_DATA": str(data)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        t = time.monotonic()
        while time.monotonic() - t < 15:
            f = data / "_state" / "status.json"
            st = json.loads(f.read_text()) if f.exists() else {}
            if st.get("pending_rows", 0) >= 100:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=15)[0].decode()
    assert proc.returncode == 0, out
    assert read(Lake(data), "liquidations").height == 100  # flush-seconds 30: all written on the stop
    res = CliRunner().invoke(app(), ["collect-status"], env={"PERPSCOPE_DATA": str(data), "COLUMNS": "200"})
    assert res.exit_code == 0 and "stopped" in res.output and "liquidations" in res.output


def test_backfill_command_okx_and_hyperliquid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--venue okx`` and ``--venue hyperliquid`` reach their clients through the venue registry."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "venues" / "okx"))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "venues" / "hyperliquid"))
    from hyperliquid_server import FakeHyperliquidInfo
    from okx_data import answer, candle_row

    monkeypatch.setenv("PERPSCOPE_DATA", str(tmp_path / "data"))
    args = ["--since", str(T0), "--until", str(T0 + 30 * H)]
    with FakeBinanceRest() as srv:
        srv.answer = answer([candle_row(T0 + i * H) for i in range(30)])  # type: ignore[method-assign]
        res = CliRunner().invoke(
            app(), ["backfill", "--venue", "okx", "--streams", "klines:1h", *args, "--rest-url", srv.url]
        )
    assert res.exit_code == 0, res.output
    with FakeHyperliquidInfo() as hl:
        hl.answer = lambda path, body: (  # type: ignore[method-assign]
            {"universe": [{"name": "BTC"}]}
            if body["type"] == "meta"
            else [
                {"coin": "BTC", "fundingRate": "0.0000125", "premium": "0", "time": T0 + i * H}
                for i in range(30)
                if body["startTime"] <= T0 + i * H <= body["endTime"]
            ]
        )
        res = CliRunner().invoke(
            app(), ["backfill", "--venue", "hyperliquid", "--symbols", "BTC", *args, "--rest-url", hl.url]
        )
    assert res.exit_code == 0, res.output
    lake = Lake(tmp_path / "data")
    assert read(lake, "candles", venue="okx").height == 30
    assert read(lake, "funding", venue="hyperliquid").height == 30
    res = CliRunner().invoke(app(), ["collect", "--venues", "hyperliquid", "--streams", "liquidations"])
    assert res.exit_code == 2 and "hyperliquid offers none of ['liquidations']" in res.output
