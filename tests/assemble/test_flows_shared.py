"""The flows front ends on a store imported the README way from the whole shared data: ``perpscope flows``,
``GET /api/v1/flows`` (the dashboard's flows panel) and the report's flows section.

Each test states what the data says (SOURCES.md §10–13 or the source file) and then what the view shows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from perpscope.assemble.flows import COLUMNS, flows_of, flows_view
from perpscope.cli.main import app
from perpscope.store import Lake

pytestmark = pytest.mark.shared
runner = CliRunner()


def t(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def row(view_json: dict, day: str) -> dict:  # type: ignore[type-arg]
    [r] = [r for r in view_json["rows"] if r["ts_ms"] == t(day)]
    return r


def test_flows_view_aligns_each_measure_by_when_it_was_public(shared_store: Path) -> None:
    v = flows_view(Lake(shared_store), "BTCUSDT", t("2025-10-06"), t("2025-10-16")).to_json()
    assert v["columns"] == ["ts_ms", *COLUMNS]
    # ETF totals (SOURCES.md §10): 2025-10-10 −4.5 US$m, 2025-10-13 −326.4; no ETF bar on the weekend
    assert row(v, "2025-10-10")["etf_flow_usd"] == pytest.approx(-4.5e6)
    assert row(v, "2025-10-13")["etf_flow_usd"] == pytest.approx(-326.4e6)
    assert row(v, "2025-10-11")["etf_flow_usd"] is None and row(v, "2025-10-12")["etf_flow_usd"] is None
    # CME: the 2025-10-07 report (lev 3,221 long / 17,275 short contracts) shows from its Friday release on
    assert row(v, "2025-10-10")["cme_lev_net_base"] == (3221 - 17275) * 5
    assert row(v, "2025-10-09")["cme_lev_net_base"] != (3221 - 17275) * 5
    # the price is Binance spot (SOURCES.md §13: the 21:00 bar's low 102,000.00), daily closes
    assert v["price"] == "binance BTC-USDT-SPOT close"
    assert all(r["close"] for r in v["rows"])
    ev = v["evidence"]
    assert ev["t_ms"] == t("2025-10-16") and ev["missing"] == []
    assert ev["etf_5d_usd"] == pytest.approx(row(v, "2025-10-15")["etf_flow_5d_usd"])
    assert "ETF 5-day flow" in ev["text"] and "perp/spot ratio" in ev["text"]


def test_flows_command_at_80_columns(shared_store: Path) -> None:
    args = ["--data-dir", str(shared_store), "flows", "BTCUSDT", "--from", "2025-10-06", "--to", "2025-10-16"]
    res = runner.invoke(app, args, env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert max(len(x) for x in lines) <= 80
    assert any(x.startswith("│ 2025-10-13 ") and "-$326M" in x for x in lines), res.output
    assert "flow evidence at 2025-10-16 00:00" in res.output
    out = runner.invoke(app, [*args, "--format", "json"])
    doc = json.loads(out.output)
    assert {"rows", "provenance"} <= set(doc) and doc["provenance"]["evidence"]["missing"] == []


def test_flows_api_route(shared_store: Path) -> None:
    from fastapi.testclient import TestClient

    from perpscope.cli.serve_cmd import build_app

    client = TestClient(build_app(shared_store, port=8000), base_url="http://127.0.0.1:8000")
    r = client.get(
        "/api/v1/flows", params={"symbol": "BTC-USDT-PERP", "from": "2024-08-01", "to": "2024-08-10"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    # 2024-08-05: ETF total −168.4 US$m (SOURCES.md §10); leveraged funds net short on CME (basis trade)
    day = row(body, "2024-08-05")
    assert day["etf_flow_usd"] == pytest.approx(-168.4e6)
    assert day["cme_lev_net_base"] < 0 and day["cme_basis_trade"] is True
    assert client.get("/api/v1/flows", params={"symbol": "BTC", "venue": "all"}).status_code == 400
    assert client.get("/api/v1/flows", params={"symbol": "BTC", "every": "5m"}).status_code == 422


def test_report_embeds_the_flows_panel(shared_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    args = [
        "--data-dir",
        str(shared_store),
        "report",
        "BTCUSDT",
        "--from",
        "2025-10-01",
        "--to",
        "2025-10-20",
    ]
    res = runner.invoke(app, [*args, "-o", str(out)])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert "window.PERPSCOPE_FLOWS" in html and "PSFlows.render" in html
    flows = flows_of(Lake(shared_store), "BTC-USDT-PERP", t("2025-10-01"), t("2025-10-20"))
    assert flows is not None and row(flows, "2025-10-13")["etf_flow_usd"] == pytest.approx(-326.4e6)


def test_a_store_without_flow_records_has_no_flows_section(tmp_path: Path) -> None:
    lk = Lake(tmp_path / "data")
    assert flows_of(lk, "BTCUSDT", t("2025-10-01"), t("2025-10-20")) is None
