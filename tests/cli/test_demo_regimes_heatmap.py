"""``perpscope demo`` with its regime and heatmap sections: run once into a temporary folder, then check
the terminal tables, the heatmap files and the page against the bundled raw files (not the code's output)."""

from __future__ import annotations

import gzip
import io
import json
import re
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from perpscope.cli.demo import demo_data_dir
from perpscope.cli.main import app
from perpscope.regimes import LABELS

runner = CliRunner()
SYMBOLS = ("BNB", "BTC", "DOGE", "ETH", "SOL", "XRP")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo") / "out"
    # the bundled data's story only: the 10 Oct 2025 chapter is tests/cli/test_demo_crash.py's
    res = runner.invoke(app, ["demo", "--out", str(out), "--no-png", "--no-crash"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    return out, res.output


def _btc_raw() -> pl.DataFrame:
    """BTCUSDT rows of the bundled 1h perp klines (the story's symbol)."""
    src = next(demo_data_dir().glob("klines_1h_perp_*.csv.gz"))
    k = pl.read_csv(io.BytesIO(gzip.decompress(src.read_bytes())))
    return k.filter(pl.col("symbol") == "BTCUSDT").sort("timestamp")


def _sol_raw() -> pl.DataFrame:
    src = next(demo_data_dir().glob("SOLUSDT_perp_1h_*.csv.gz"))
    return pl.read_csv(io.BytesIO(gzip.decompress(src.read_bytes()))).sort("ts")


def _section(output: str, title: str) -> str:
    start = output.index(title)
    end = output.find("\n\n", start)
    return output[start:] if end < 0 else output[start:end]


def test_terminal_output_fits_80_columns(demo_run: tuple[Path, str]) -> None:
    _, output = demo_run
    too_wide = [line for line in output.splitlines() if len(line) > 80 and "/" not in line]
    assert not too_wide, too_wide[:3]


def test_reading_names_a_documented_label_for_every_symbol(demo_run: tuple[Path, str]) -> None:
    _, output = demo_run
    # the story's symbol: its own reading table, in the story section
    story = output[output.index("The story: BTC-USDT-PERP") : output.index("Elsewhere in the bundled data")]
    m = re.search(r"binance:BTC-USDT-PERP at .*?\n│ regime\s+│ (\w+) \(since", story, re.S)
    assert m and m.group(1) in LABELS, story[:2000]
    # every other symbol: one row of the "Regime now" table
    table = output[output.index("Regime now") : output.index("Regime timeline: the last")]
    rows = re.findall(r"│ ([A-Z]+)\s+│ (\w+)\s+│", table)
    assert sorted(sym for sym, _ in rows) == sorted(s for s in SYMBOLS if s != "BTC")
    assert all(label in LABELS for _, label in rows), rows


def test_sol_reading_evidence_matches_the_raw_file(demo_run: tuple[Path, str]) -> None:
    """docs/regimes.md: ``price_chg = close(t) / close(t − 1d) − 1`` on 4h bars. The latest 4h bar of
    SOLUSDT closes at the raw file's last 1h close; the 4h bar a day earlier closes at the last 1h close
    before its end. The long/short ratio in the evidence is the file's last one."""
    _, output = demo_run
    raw = _sol_raw()
    last = raw.row(-1, named=True)
    h4 = 4 * 3_600_000
    earlier_end = last["ts"] // h4 * h4 - 24 * 3_600_000 + h4
    day_before = raw.filter(pl.col("ts") < earlier_end).row(-1, named=True)
    change = last["close"] / day_before["close"] - 1
    table = output[output.index("Regime now") : output.index("Regime timeline: the last")]
    sol = table[table.index("│ SOL ") :].split("│ XRP")[0]
    # the evidence cell wraps over lines: read the SOL rows' cells as one text
    flat = re.sub(r"\s+", " ", " ".join(p.strip() for line in sol.splitlines() for p in line.split("│")))
    assert f"over 1d: price {change * 100:+.1f}%" in flat
    assert f"L/S {last['long_short_ratio_ratio']:.2f}" in flat


def test_timeline_lists_episodes_with_documented_labels(demo_run: tuple[Path, str]) -> None:
    _, output = demo_run
    table = output[output.index("Regime timeline: the last") :]
    table = table[: table.index("evidence: the reading")]
    labels = re.findall(r"│ \d\d-\d\d \d\d:\d\d\s+│ (\w+)\s+│", table)
    assert labels, table
    assert all(label in LABELS and label != "neutral" for label in labels)
    for sym in SYMBOLS:
        if sym != "BTC":  # the story's symbol has its own timeline above
            assert f"{sym}-USDT-PERP" in table


def test_heatmap_zones_bracket_the_last_btc_close(demo_run: tuple[Path, str]) -> None:
    """The story's heatmap: BTCUSDT after its last bundled 1h bar; zones below (longs) and above
    (shorts) the file's last close."""
    out, output = demo_run
    last_close = _btc_raw()["close"][-1]
    assert re.search(rf"price\s+{re.escape(f'{last_close:,.2f}')}", output)
    zones = re.findall(r"│ (long|short)\s+│ \d │ ([\d.,]+) – ([\d.,]+) │", output)
    assert {side for side, _, _ in zones} == {"long", "short"}
    for side, lo, hi in zones:  # longs are liquidated below the price, shorts above
        lo_f, hi_f = float(lo.replace(",", "")), float(hi.replace(",", ""))
        assert (hi_f <= last_close) if side == "long" else (lo_f >= last_close)
    page = out / "heatmap-BTCUSDT.html"
    assert page.exists() and "plotly" in page.read_text(encoding="utf-8")[:200_000].lower()
    assert str(page.name) in output


def _figures(page: str) -> list[dict[str, list[dict[str, object]]]]:
    """The data of each ``Plotly.newPlot`` call of the page, parsed as JSON."""
    figs = []
    dec = json.JSONDecoder()
    for m in re.finditer(r'Plotly\.newPlot\(\s*"[^"]+",\s*', page):
        data, _ = dec.raw_decode(page, m.end())
        figs.append({"data": data})
    return figs


def test_page_has_a_regime_band_per_symbol_and_the_heatmap_section(demo_run: tuple[Path, str]) -> None:
    out, _ = demo_run
    page = (out / "report.html").read_text(encoding="utf-8")
    figs = _figures(page)
    assert len(figs) == len(SYMBOLS) + 1  # one per symbol, then the cascade fragility curve
    names = {lab.replace("_", " ") for lab in LABELS}
    for fig in figs[: len(SYMBOLS)]:
        band = [t for t in fig["data"] if t.get("meta") == "regime-band"]
        assert band, "a symbol chart without its regime band"
        assert all(t["name"] in names and t["orientation"] == "h" for t in band)
        # segments tile the window: their lengths sum to the span from the first start to the last end
        spans = [x for t in band for x in t["x"]]  # type: ignore[union-attr]
        assert all(x > 0 and x % (4 * 3_600_000) == 0 for x in spans)  # whole 4h bars
        assert all("price" in h for t in band for h in t["hovertext"])  # type: ignore[union-attr]
    assert "id=heatmap" in page and 'href="heatmap-BTCUSDT.html"' in page
    # the hot-zone section on the page names the last BTCUSDT close the zones bracket
    assert f"{_btc_raw()['close'][-1]:,.2f}" in page


def test_after_a_run_the_first_compile_note_is_gone(demo_run: tuple[Path, str]) -> None:
    # the run compiled (or loaded) every kernel and numba cached them: the next run is not a first run
    from perpscope.cli.demo import first_compile_note

    assert first_compile_note() is None
