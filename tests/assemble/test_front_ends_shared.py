"""The front ends that used to read the store themselves (alerts, evaluate on the user's store, heatmap
calibration, the report and its overview) on the store a user actually has: everything in
``../shared/data`` imported the README way. Each runs for BTCUSDT on one venue and on every venue, says
which stored series fed it, and reads the numbers ``perpscope metrics`` reads for the same scope."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from perpscope.alerts import Rule
from perpscope.assemble.panel import latest_panel
from perpscope.cli.alerts_cmd import HISTORY_MS, check_rules
from perpscope.cli.main import app
from perpscope.core.format import usd_text
from perpscope.core.time import interval_label, ms_to_iso, parse_time_ms
from perpscope.report.overview import symbol_view
from perpscope.store import Lake

pytestmark = [pytest.mark.shared, pytest.mark.slow]

SCOPES = ("binance", "all")
OCT = ("2025-10-01", "2025-10-20")
YEAR = ("2024-11-21", "2025-11-14")


def _run(data: Path, *args: str) -> tuple[str, str]:
    r = CliRunner(env={"COLUMNS": "300"}).invoke(app, ["--data-dir", str(data), *args])
    assert r.exit_code == 0, r.output
    return r.stdout, r.stderr


def _metrics(data: Path, scope: str, start: str, end: str, every: str) -> dict[str, Any]:
    args = ["metrics", "BTCUSDT", "--venue", scope, "--from", start, "--to", end, "--every", every]
    out, _ = _run(data, *args, "--format", "json")
    return json.loads(out)


def _names_sources(text: str, scope: str, measures: tuple[str, ...] = ("liquidations",)) -> None:
    """Footnotes: the scope's heading and the stored series behind price and ``measures``."""
    assert f"BTC-USDT-PERP · venues: {scope} (price from binance)" in text
    for m in ("price", *measures):
        assert re.search(rf"{m}: \S+ BTC-\S+-(PERP|SPOT) \S+ \(", text), (m, text)


ALERTS = """
[[rule]]
name = "funding"
kind = "funding_extreme"
venue = "{scope}"
symbol = "BTCUSDT"
apr = 0
[[rule]]
name = "oi"
kind = "oi_drop"
venue = "{scope}"
symbol = "BTCUSDT"
pct = -1000
[[rule]]
name = "zone"
kind = "hot_zone"
venue = "{scope}"
symbol = "BTCUSDT"
[[rule]]
name = "regime"
kind = "regime_change"
venue = "{scope}"
symbol = "BTCUSDT"
"""


@pytest.mark.parametrize("scope", SCOPES)
def test_alerts_read_what_metrics_reads(shared_store: Path, tmp_path: Path, scope: str) -> None:
    cfg = tmp_path / "alerts.toml"
    cfg.write_text(ALERTS.format(scope=scope))
    out, err = _run(shared_store, "alerts", "check", "-c", str(cfg), "--at", OCT[1])
    _names_sources(err, scope)
    assert "cannot fire" not in err and "warning" not in err
    # the panel the rules read is metrics' panel at the newest bar length, for the same scope and end
    lk, end = Lake(shared_store), parse_time_ms(OCT[1])
    mp = latest_panel(lk, scope, "BTCUSDT", end, HISTORY_MS)
    every = interval_label(mp.view.every_ms)
    m = _metrics(shared_store, scope, ms_to_iso(end - HISTORY_MS)[:10], OCT[1], every)
    last, got = m["rows"][-1], mp.panel.row(-1, named=True)
    assert parse_time_ms(last["ts_ms"]) == end - mp.view.every_ms  # the bar closed at --at
    for col in ("close", "oi_usd", "funding_rate", "funding_sampled_8h", "liq_usd"):
        assert last[col] == got[col], col
    assert last["oi_usd"] is not None and (last["funding_rate"] or last["funding_sampled_8h"]) is not None
    # … and what the alerts say and carry is that panel's
    assert f"OI {usd_text(last['oi_usd'])}" in err
    rules = tuple(Rule(n, k, scope, "BTCUSDT", p) for n, k, p in (
        ("funding", "funding_extreme", {"apr": 0}), ("oi", "oi_drop", {"pct": -1000})))  # fmt: skip
    fired = {a.rule: a for a in check_rules(lk, rules, end)}
    rate = last["funding_sampled_8h"] if last["funding_rate"] is None else None
    if rate is not None:
        assert fired["funding"].values["funding_apr"] == pytest.approx(rate * 3 * 365, rel=1e-12)
    else:
        assert fired["funding"].values["funding_apr"] == last["funding_apr"]
    assert f"[{scope} BTCUSDT] BTCUSDT: funding extreme" in out and "open interest" in out


SPEC = """
name = "liq_{scope}"
title = "Liquidations and leverage on my store"
dataset = "lake"
dataset_options = {{ venue = "{scope}", symbol = "BTCUSDT", every = "4h" }}
horizons = ["4h", "1d"]
start = "{start}"
end = "{end}"

[events]
signals = [{{ name = "liquidation burst", when = "liq_burst" }}]

[walkforward]
train_min = "120d"
test = "30d"
variants = [
  {{ name = "liquidations", features = ["liq_usd_z", "liq_long_share"] }},
  {{ name = "OI", features = ["oi_usd_chg_1d"] }},
]
"""


@pytest.mark.parametrize("scope", SCOPES)
def test_evaluate_on_the_users_store_with_liquidation_features(
    shared_store: Path, tmp_path: Path, scope: str
) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC.format(scope=scope, start=YEAR[0], end=YEAR[1]))
    out, _ = _run(shared_store, "evaluate", str(spec), "--out", str(tmp_path), "--format", "md")
    res = json.loads((tmp_path / f"liq_{scope}.json").read_text())
    assert res["data"]["series"] == [[scope, "BTC-USDT-PERP"]] and res["data"]["bar"] == "4h"
    # the year at 4h: 358 days of 6 bars
    assert res["data"]["rows"] == 358 * 6
    liq = [v for v in res["variants"] if v["name"] == "liquidations"]
    assert len(liq) == 2 and all(v["n"] > 0 for v in liq)  # both horizons scored
    assert res["trials"]["count"] == 2 * 3 and "skipped" not in res["trials"]
    assert any(e["signal"] == "liquidation burst" and e["n_triggers"] > 0 for e in res["events"])
    _names_sources("\n".join(res["data_notes"]), scope)
    assert "(6 trials logged)" in " ".join(out.split())  # however the terminal wrapped the paths


@pytest.mark.parametrize("scope", SCOPES)
def test_heatmap_calibrate_scores_against_the_scopes_liquidations(shared_store: Path, scope: str) -> None:
    # the fit window outlasts the 14-day burn-in (a shorter one is refused: nothing left to fit on)
    args = ["heatmap", "calibrate", "BTCUSDT", "--venue", scope, "--fit-from", "2025-09-15"]
    out, _ = _run(shared_store, *args, "--fit-to", "2025-10-12", "--test-to", OCT[1], "--every", "1h")
    assert "chosen on the fit window" in out and "precision@k zones" in out
    _names_sources(out, scope)
    assert f"realized BTC-USDT-PERP · venues: {scope}" in out
    # the realized series is the metrics panel's liquidations (same view, same bars)
    m = _metrics(shared_store, scope, *OCT, "1h")
    measures = m["provenance"]["measures"]
    liq = {
        f"{p['venue']} {p['canonical']}"
        for x in measures
        if x["measure"] == "liquidations"
        for p in x["sources"]
    }
    realized = out.split("realized BTC-USDT-PERP")[1]
    assert liq and all(s in realized for s in liq)


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize(("start", "end", "points"), [(*OCT, 1500), (*YEAR, 3000)])
def test_report_names_its_sources(
    shared_store: Path, tmp_path: Path, scope: str, start: str, end: str, points: int
) -> None:
    page = tmp_path / "report.html"
    args = ["report", "BTCUSDT", "--venue", scope, "--from", start, "--to", end, "--max-points", str(points)]
    _, err = _run(shared_store, *args, "-o", str(page))
    every = "1h" if start == OCT[0] else "4h"
    assert f"bars of {every}" in err
    _names_sources(err, scope)
    html = page.read_text()
    assert '"provenance"' in html and f'"scope": "{scope}"' in html.replace('":"', '": "')


@pytest.mark.parametrize("scope", SCOPES)
def test_overview_reads_what_metrics_reads(shared_store: Path, scope: str) -> None:
    v = symbol_view(Lake(shared_store), scope, "BTCUSDT")  # the store's latest 30 days (mid-2026)
    _names_sources("\n".join(v.notes), scope, ("open_interest", "funding"))
    end = ms_to_iso(v.summary.end_ms)[:16]
    every = interval_label(int(v.candles["interval_ms"][0]))
    m = _metrics(shared_store, scope, ms_to_iso(v.summary.start_ms)[:16], end, every)
    rows = m["rows"]
    assert v.summary.price_close == rows[-1]["close"]
    oi = [r["oi_usd"] for r in rows if r["oi_usd"] is not None]
    assert v.summary.oi_usd_end == oi[-1] and v.summary.oi_usd_start == oi[0]


def test_metrics_table_at_80_columns_shows_the_funding_there_is_and_no_empty_column(
    shared_store: Path,
) -> None:
    """At scope all nothing settles (the OI-weighted rate is sampled): the 80-column table shows the
    sampled rate among its first columns and gives no width to a column with no value in its bars."""
    args = ["--data-dir", str(shared_store), "metrics", "BTCUSDT", "--venue", "all"]
    args += ["--from", "2025-10-08", "--to", "2025-10-12", "--rows", "6"]
    r = CliRunner(env={"COLUMNS": "80"}).invoke(app, args)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    head = next(line for line in lines if "bar (UTC)" in line)
    assert "sampled/8h" in head and "funding/8h" not in head
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in lines if line.startswith("│ 2025")]
    assert len(rows) == 6 and max(len(line) for line in lines) <= 80
    for col in range(1, len(rows[0])):
        assert any(row[col] != "–" for row in rows), head
