"""``perpscope report`` over the bundled real demo data: one self-contained page with the same views,
checked as a file and, when Chromium and Playwright are present, as a rendered page."""

from __future__ import annotations

import gzip
import re
import shutil
from pathlib import Path

import polars as pl
import pytest
from playwright.sync_api import sync_playwright  # a pinned dev dependency: broken fails, not skips
from typer.testing import CliRunner

from perpscope.cli.demo import demo_data_dir

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]  # fmt: skip


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from perpscope.cli.main import app
    from perpscope.ingest.importer import import_paths
    from perpscope.store import Lake

    root = tmp_path_factory.mktemp("report")
    import_paths([demo_data_dir() / "BTCUSDT_perp_5m_20251006_20251015.csv.gz"], Lake(root / "data"))
    out = root / "out" / "report.html"
    args = [
        "--data-dir",
        str(root / "data"),
        "report",
        "BTCUSDT",
        "--from",
        "2025-10-06",
        "--to",
        "2025-10-16",
    ]
    r = CliRunner().invoke(app, [*args, "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out


def test_report_is_self_contained(report: Path) -> None:
    html = report.read_text()
    assert not re.search(r"<script[^>]+src=", html)  # nothing loaded from elsewhere
    assert not re.search(r"<link[^>]+href=[\"']https?:", html)
    assert "window.PERPSCOPE_DATA" in html and "PS.render" in html


def test_unknown_symbol_is_a_clear_error(tmp_path: Path) -> None:
    from perpscope.cli.main import app

    r = CliRunner().invoke(
        app, ["--data-dir", str(tmp_path), "report", "BTCUSDT", "-o", str(tmp_path / "x.html")]
    )
    out = " ".join(r.output.split())  # the console wraps long paths
    assert r.exit_code == 2 and "is empty" in out and "--data-dir" in out


def test_report_renders_every_chart_with_data(report: Path) -> None:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    with gzip.open(demo_data_dir() / "BTCUSDT_perp_5m_20251006_20251015.csv.gz") as f:
        src = pl.read_csv(f.read())
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.as_uri())
        page.wait_for_selector("#views[data-rendered]")
        pts = {v: int(page.get_attribute(f"#chart-{v}", "data-points") or 0) for v in ("price", "cascade")}
        low = page.evaluate("Math.min(...document.getElementById('chart-price').data[1].low)")
        buttons = page.evaluate(
            "Array.from(document.querySelectorAll('#chart-price .modebar-btn')).map(e => e.dataset.title)"
        )
        b.close()
    assert pts["price"] > 100 and pts["cascade"] > 0, pts
    assert low == pytest.approx(src["low"].min())  # the 10 Oct wick, from the kline file itself
    assert "Download plot as a PNG" in buttons  # Plotly's client-side PNG export
    assert not any("Share" in t for t in buttons)  # no upload to a cloud service
    assert not errors, errors


def test_report_json_is_the_pages_data(report: Path) -> None:
    """``--format json`` writes the data the page embeds: the bars of the bundled 5m file's range."""
    import json

    from perpscope.cli.main import app

    data = report.parent.parent / "data"
    out = report.parent / "report.json"
    args = ["--data-dir", str(data), "report", "BTCUSDT", "--from", "2025-10-06", "--to", "2025-10-16"]
    r = CliRunner().invoke(app, [*args, "--format", "json", "-o", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    src = demo_data_dir() / "BTCUSDT_perp_5m_20251006_20251015.csv.gz"
    raw = pl.read_csv(gzip.decompress(src.read_bytes())).sort("open_time_ms")
    cols, step = doc["series"]["columns"], doc["series"]["every_ms"]
    per_bar = step // 300_000  # 5m rows per bar of the page
    # the page's first bar, resampled from the raw file's first 5m rows (computed here, not by perpscope)
    first = raw.head(per_bar)
    assert cols["ts_ms"][0] == raw["open_time_ms"][0]
    assert cols["close"][0] == first["close"][-1] and cols["high"][0] == first["high"].max()
    assert doc["series"]["rows"] == raw.height // per_bar
    page = report.read_text()
    assert f'"rows":{doc["series"]["rows"]}' in page.replace(" ", "")  # the page embeds the same answer
