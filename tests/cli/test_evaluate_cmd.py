"""``perpscope evaluate``: a user's spec on their own store, and the built-in studies on the shared data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from perpscope.cli.demo import demo_data_dir
from perpscope.cli.main import app

runner = CliRunner()

SPEC = """
name = "my_study"
title = "Demo: volume on six perps"
dataset = "lake"
dataset_options = { every = "1h" }
horizons = ["1h", "8h"]
start = "2026-03-01"

[events]
signals = [{ name = "up bar", when = "bar_ret > 0.01" }]
label_column = "my_label"

[walkforward]
train_min = "7d"
test = "3d"
variants = [{ name = "volume", features = ["volume_usd"] }]
"""


def test_list_and_usage_errors() -> None:
    res = runner.invoke(app, ["evaluate", "--list"])
    assert res.exit_code == 0 and "claim_71pct" in res.output
    bad = runner.invoke(app, ["evaluate", "--study", "nope"])
    assert bad.exit_code == 2 and "unknown study" in bad.output
    fmt = runner.invoke(app, ["evaluate", "--study", "claim_71pct", "--format", "pdf"])
    assert fmt.exit_code == 2 and "--format must be one of" in fmt.output


def test_spec_on_the_users_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    klines = demo_data_dir() / "klines_1h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20251201_20260319.csv.gz"
    assert runner.invoke(app, ["--data-dir", str(data), "import", str(klines)]).exit_code == 0
    spec = tmp_path / "my.toml"
    spec.write_text(SPEC)
    out = tmp_path / "out"
    res = runner.invoke(app, ["--data-dir", str(data), "evaluate", str(spec), "--out", str(out)])
    assert res.exit_code == 0, res.output
    result = json.loads((out / "my_study.json").read_text())
    assert len(result["data"]["series"]) == 6  # BTC ETH SOL XRP BNB DOGE
    # 6 series × 2 horizons × (prior + 1 variant)
    assert result["trials"]["count"] == 24
    assert result["data"]["label_column_missing"] == "my_label"
    md = (out / "my_study.md").read_text()
    assert "Trials logged" in md and "**24**" in md and "not in the panel" in md
    page = (out / "my_study.html").read_text()
    # 1 signal × 2 horizons of events; hit rate, Brier skill, P&L: one chart each
    for chart in ("events", "hit_rate", "brier_skill", "pnl"):
        assert f'id="chart-{chart}"' in page
        png = out / f"my_study_{chart}.png"
        if shutil.which("chromium"):
            assert png.exists() and f"](my_study_{chart}.png)" in md
        else:
            assert not png.exists() and "PNG charts skipped" in res.output
    assert "pnl" not in result  # the P&L paths are drawn, not stored


def test_spec_on_the_users_store_says_why_nothing_was_scored(tmp_path: Path) -> None:
    data = tmp_path / "data"
    klines = demo_data_dir() / "klines_1h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20251201_20260319.csv.gz"
    assert runner.invoke(app, ["--data-dir", str(data), "import", str(klines)]).exit_code == 0
    args = ["--data-dir", str(data), "evaluate", "--out", str(tmp_path / "out")]
    env = {"COLUMNS": "300"}
    # a feature whose input the store lacks: refused, naming the input
    liq = tmp_path / "liq.toml"
    liq.write_text(SPEC.replace('features = ["volume_usd"]', 'features = ["liq_usd_z"]'))
    res = runner.invoke(app, [*args, str(liq)], env=env)
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert "liq_usd_z (needs liquidations: missing in the store for binance/BNB-USDT-PERP, " in text
    # two days of bars: fewer than a walk-forward needs; 0 trials, and why, per series and horizon
    few = tmp_path / "few.toml"
    few.write_text(SPEC.replace('start = "2026-03-01"', 'start = "2026-03-18"').replace(
        'horizons = ["1h", "8h"]', 'horizons = ["1h"]'))  # fmt: skip
    res = runner.invoke(app, [*args, str(few)], env=env)
    assert res.exit_code == 0, res.output
    assert "(0 trials logged)" in res.output and "no trial logged" in res.output
    assert "binance/BTC-USDT-PERP at 1h: not scored — fewer than 50 bars" in res.output
    result = json.loads((tmp_path / "out" / "my_study.json").read_text())
    assert len(result["trials"]["skipped"]) == 6 and "not scored" in "\n".join(result["data_notes"])


@pytest.mark.shared
def test_builtin_settlement_study_on_shared_data(shared_data: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--study",
            "funding_settlement",
            "--format",
            "html",
            "--shared",
            str(shared_data),
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "funding_settlement.json").read_text())["settlement"]
    at0 = next(r for r in rows if r["metric"] == "volume" and r["offset_min"] == 0)
    # SOURCES.md: the three 5m files hold 2,880 + 7,200 + 2,880 rows = 10 + 25 + 10 days of 288 bars,
    # so 45 × 3 settlements, less the first of each window (no reference bars before it) = 132
    assert at0["n_settle"] == 132


@pytest.mark.shared
def test_builtin_derivatives_study_on_shared_data(shared_data: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--study",
            "derivatives_signals",
            "--format",
            "html",
            "--shared",
            str(shared_data),
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    ev = json.loads((tmp_path / "derivatives_signals.json").read_text())["events"]
    burst = next(e for e in ev if e["signal"].startswith("liquidation burst") and e["horizon"] == "4h")
    # docs/metrics.md: on CoinGlass's Binance BTC 4h liquidations the burst rule flags 4 bars in a year
    assert burst["n_triggers"] == 4
    for e in ev:
        assert e["n_events"] <= e["n_triggers"]


@pytest.mark.shared
def test_every_builtin_study_runs_and_opens_with_its_verdict(shared_data: Path, tmp_path: Path) -> None:
    """Each built-in study, as docs/studies/README.md runs it (price_baselines_1h uses bar_ret, a
    feature the study derives itself: it must not be reported absent)."""
    from perpscope.evaluate import builtin_studies

    for name in builtin_studies():
        out = tmp_path / name
        args = ["evaluate", "--study", name, "--format", "html", "--shared", str(shared_data)]
        args += ["--out", str(out)]
        res = runner.invoke(app, args, env={"COLUMNS": "200"})
        assert res.exit_code == 0, f"{name}: {res.output}"
        page = (out / f"{name}.html").read_text()
        assert "Verdict." in res.output and page.count("<strong>Verdict.</strong>") == 1
