"""perpscope regimes / metrics from a store holding the real BTC data (shared)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from perpscope.cli.main import app
from perpscope.core.time import ms_to_iso

pytestmark = pytest.mark.shared


def test_regimes_and_metrics_commands(btc_store: object) -> None:
    d = str(btc_store.root)  # type: ignore[attr-defined]
    r = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["--data-dir", d, "regimes", "BTCUSDT", "--from", "2025-10-01", "--to", "2025-10-20"]
    )
    assert r.exit_code == 0, r.output
    assert "Current reading" in r.output and "Circuit breakers" in r.output and "evidence" in r.output
    r = CliRunner().invoke(
        app,
        [
            "--data-dir",
            d,
            "regimes",
            "BTCUSDT",
            "--from",
            "2025-10-01",
            "--to",
            "2025-10-20",
            "--format",
            "json",
        ],
    )
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout.splitlines()[-1])
    rows = got["rows"]
    assert got["provenance"]["scope"] == "binance"
    assert any(m["measure"] == "price" and m["sources"] for m in got["provenance"]["measures"])
    flushes = [ms_to_iso(e["start_ms"]) for e in rows if e["regime"] == "deleveraging_flush"]
    assert any(t.startswith("2025-10-10") for t in flushes), flushes
    r = CliRunner(env={"COLUMNS": "200"}).invoke(
        app, ["--data-dir", d, "metrics", "BTCUSDT", "--from", "2025-10-10", "--to", "2025-10-12"]
    )
    assert r.exit_code == 0, r.output
    assert "2025-10-11 20:00" in r.output
    r = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["--data-dir", d, "regimes", "NOPEUSDT"])
    assert r.exit_code != 0 and "no candles" in r.output
