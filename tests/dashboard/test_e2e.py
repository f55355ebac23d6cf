"""End to end, as a person would use it: ``perpscope serve`` on 127.0.0.1 over a store filled with real
Binance data from ``../shared/data``, the dashboard opened in headless Chromium (Playwright driving
Debian's chromium), charts checked for drawn data, the pickers exercised, screenshots saved.

Screenshots go to ``$PERPSCOPE_TEST_ARTIFACTS`` (default ``build/test-artifacts/dashboard``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest
from playwright.sync_api import sync_playwright  # a pinned dev dependency: broken fails, not skips
from tests.conftest import ROOT, shared_data_dir

pytestmark = pytest.mark.shared

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
#: Real Binance files (SOURCES.md sections: binance_um_gravestone, binance_um_sol_jabine9966).
FILES = (
    "binance_um_gravestone/klines_1h_perp_BTC_ETH_SOL_XRP_BNB_DOGE_20250913_20260319.csv.gz",
    "binance_um_gravestone/funding_rate_all_usdtm_perps_20260112_20260320.csv.gz",
    "binance_um_gravestone/open_interest_4h_all_usdtm_perps_20260220_20260320.csv.gz",
    "binance_force_orders/riftfern_binance_forceorders_2025-12-27_2025-12-28.csv.gz",
)


def _artifacts() -> Path:
    d = Path(os.environ.get("PERPSCOPE_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts")) / "dashboard"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _shared() -> Path:
    d = shared_data_dir()
    assert d is not None
    return d


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared = shared_data_dir()
    if shared is None:
        pytest.skip("../shared/data (the team's real market data) is not beside this checkout")
    from perpscope.ingest.importer import import_paths
    from perpscope.store import Lake

    root = tmp_path_factory.mktemp("e2e") / "data"
    report = import_paths([shared / f for f in FILES], Lake(root))
    assert not report.failed
    return root


@pytest.fixture(scope="module")
def server(store: Path) -> Iterator[str]:
    yield from _serve(store)


@pytest.fixture(scope="module")
def shared_server(shared_store: Path) -> Iterator[str]:
    """``perpscope serve`` over the store imported from all of ../shared/data (tests/conftest.py)."""
    yield from _serve(shared_store)


def _serve(store: Path) -> Iterator[str]:
    port = _free_port()
    code = "import sys; from perpscope.cli.main import app; sys.argv[0] = 'perpscope'; app()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--data-dir", str(store), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            proc.kill()
            pytest.fail(f"perpscope serve did not start: {proc.communicate()[0].decode()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _points(page, view: str) -> int:  # type: ignore[no-untyped-def]
    return int(page.get_attribute(f"#chart-{view}", "data-points") or 0)


def _rendered(page, what: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(
        f"document.getElementById('views').getAttribute('data-rendered') === '{what}'", timeout=30_000
    )


def test_dashboard_draws_real_data_and_pickers_switch_it(server: str, browser, store: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/?venue=binance&symbol=BTC-USDT-PERP&from=2026-03-01&to=2026-03-19&poll=1")
    _rendered(page, "binance:BTC-USDT-PERP")
    # price, OI, funding and liquidation-free range: charts hold data, and Plotly drew marks in them
    for view in ("price", "oi", "funding"):
        assert _points(page, view) > 100, view
    drawn = page.evaluate("document.querySelectorAll('#chart-price .trace, #chart-price .hm image').length")
    assert drawn >= 2  # the candlestick trace and the heatmap image
    assert int(page.get_attribute("#zones-table", "data-rows") or 0) == 10  # 5 long + 5 short zones
    btc_close = page.evaluate("document.getElementById('chart-price').data[1].close.slice(-1)[0]")
    # oracle: the 1h kline file's close of the last bar before 2026-03-19 00:00 UTC
    kl = pl.read_csv(_shared() / FILES[0])
    want = kl.filter((pl.col("symbol") == "BTCUSDT") & (pl.col("timestamp") == 1773874800000))  # 03-18 23:00
    assert btc_close == pytest.approx(float(want["close"][0]))
    page.screenshot(path=str(_artifacts() / "btc.png"), full_page=True)

    page.select_option("#symbol", "ETH-USDT-PERP")
    _rendered(page, "binance:ETH-USDT-PERP")
    eth_close = page.evaluate("document.getElementById('chart-price').data[1].close.slice(-1)[0]")
    assert eth_close < btc_close / 10  # a different market is shown (ETH trades far below BTC)
    assert _points(page, "price") > 100
    page.screenshot(path=str(_artifacts() / "eth.png"), full_page=True)

    # liquidations appear for the range holding the recorded force orders
    page.select_option("#symbol", "BTC-USDT-PERP")
    page.fill("#from", "2025-12-20")
    page.fill("#to", "2026-01-01")
    page.click("#apply")
    page.wait_for_function(
        "document.getElementById('from').value === '2025-12-20' && "
        "document.getElementById('chart-liquidations') && "
        "document.getElementById('chart-liquidations').getAttribute('data-points')"
    )
    assert _points(page, "liquidations") > 0
    page.screenshot(path=str(_artifacts() / "btc-liquidations.png"), full_page=True)
    assert not errors, errors


def test_live_update_when_the_store_changes(server: str, browser, store: Path) -> None:  # type: ignore[no-untyped-def]
    from perpscope.records import RECORDS
    from perpscope.store import Lake
    from perpscope.store.reader import read

    page = browser.new_page()
    page.goto(f"{server}/?venue=binance&symbol=DOGE-USDT-PERP&poll=1")
    _rendered(page, "binance:DOGE-USDT-PERP")
    last = page.evaluate("document.getElementById('chart-price').data[1].x.slice(-1)[0].getTime()")
    # a collector writes the next bar into the same data directory
    lake = Lake(store)
    c = read(lake, "candles", venue="binance", symbol="DOGE-USDT-PERP").tail(1)
    nxt = c.with_columns(pl.col("ts_ms") + pl.duration(hours=1))
    lake.write(RECORDS["candles"], nxt)
    page.wait_for_function(
        f"document.getElementById('chart-price').data[1].x.slice(-1)[0].getTime() === {last + 3_600_000}",
        timeout=20_000,
    )
    page.screenshot(path=str(_artifacts() / "doge-live.png"), full_page=True)


def test_venue_picker_lists_each_venue_and_switches_between_them(server: str, browser, store: Path) -> None:  # type: ignore[no-untyped-def]
    """A second venue in the store: the venue picker offers both, picking one fills the symbol picker
    with that venue's markets and draws it; picking the first venue again brings its markets back.

    The second venue's candles are Bybit's documented ``/v5/market/kline`` example (three inverse
    BTCUSD hourly bars, tests/fixtures/bybit), parsed by the Bybit client's own parser: no native Bybit
    records exist in ../shared/data.
    """
    import json

    from perpscope.records import RECORDS
    from perpscope.store import Lake
    from perpscope.venues.bybit.wire import parse_klines

    example = json.loads((ROOT / "tests/fixtures/bybit/examples.json").read_text())["kline"]
    before = httpx.get(f"{server}/api/v1/version").json()["store_version"]
    Lake(store).write(RECORDS["candles"], parse_klines(example, "BTCUSD", 3_600_000))
    # the server reuses its store fingerprint for up to a second (api/source.py: how late new data shows),
    # and its start-up work keeps it fresh: the page is opened once the server has seen the write
    deadline = time.monotonic() + 10
    while httpx.get(f"{server}/api/v1/version").json()["store_version"] == before:
        assert time.monotonic() < deadline, "the server never saw the new Bybit candles"
        time.sleep(0.2)

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/?venue=binance&symbol=ETH-USDT-PERP&poll=1")
    _rendered(page, "binance:ETH-USDT-PERP")
    venues = page.eval_on_selector_all("#venue option", "os => os.map(o => o.value)")
    # all venues first, then the venues with candles, then any other venue holding data for the coin
    assert venues[:3] == ["all", "binance", "bybit"]

    page.select_option("#venue", "bybit")
    _rendered(page, "bybit:BTC-USD-PERP")
    symbols = page.eval_on_selector_all("#symbol option", "os => os.map(o => o.value)")
    assert symbols == ["BTC-USD-PERP"]  # only the venue's own markets
    candles = "document.getElementById('chart-price').data.find(t => t.type === 'candlestick')"
    closes = page.evaluate(f"{candles}.close")
    assert closes == [17071.5, 17071.0, 17055.5]  # the example's three bars, oldest first
    # three bars give the heatmap model nothing to place: the page says so instead of an empty grid
    assert "heatmap not shown: the model placed no positions" in page.inner_text("#note-price")
    page.screenshot(path=str(_artifacts() / "bybit.png"), full_page=True)

    page.select_option("#venue", "binance")
    _rendered(page, f"binance:{page.eval_on_selector('#symbol', 'e => e.value')}")
    symbols = page.eval_on_selector_all("#symbol option", "os => os.map(o => o.value)")
    assert "BTC-USDT-PERP" in symbols and "BTC-USD-PERP" not in symbols
    assert _points(page, "price") > 100
    assert not errors, errors


@pytest.mark.slow
@pytest.mark.parametrize("width", [1400, 390])
def test_all_venues_stack_open_interest_and_grid_funding(shared_server: str, browser, width: int) -> None:  # type: ignore[no-untyped-def]
    """On the whole shared store, "all venues" over 1–20 Oct 2025: OI stacked by exchange under the
    scope's total, funding as a venue × time grid, each panel naming its sources; the OI legend sits
    under the chart so that on a phone it covers nothing."""
    page = browser.new_page(viewport={"width": width, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{shared_server}/?venue=all&symbol=BTC-USDT-PERP&from=2025-10-01&to=2025-10-20&poll=600")
    _rendered(page, "all:BTC-USDT-PERP")
    venues = page.eval_on_selector_all("#venue option", "os => os.map(o => o.value)")
    assert venues[0] == "all" and {"binance", "bybit", "okx", "cme"} <= set(venues)
    oi = page.evaluate("document.getElementById('chart-oi').data.map(t => [t.name, t.stackgroup || ''])")
    stacked = [n for n, g in oi if g == "oi"]
    assert len(stacked) >= 5 and "binance" in stacked and "total (scope)" in [n for n, _ in oi]
    # under the plot (paper y < 0 on a desktop; anchored to the chart's bottom edge on a phone): the
    # legend's box starts below the plot area's
    legend = page.evaluate(_BOXES, "#chart-oi .legend")[0]
    plot_area = page.evaluate(_BOXES, "#chart-oi .xy .nsewdrag")[0]
    assert legend[1] >= plot_area[3]
    grid = page.evaluate("document.getElementById('chart-funding_grid').data[0]")
    assert grid["type"] == "heatmap" and {"binance", "okx", "hyperliquid"} <= set(grid["y"])
    assert page.inner_text("#note-oi").startswith("sources: all BTC-AGG-PERP")
    assert page.inner_text("#note-liquidations").startswith("sources: binance")
    page.screenshot(path=str(_artifacts() / f"all-venues-{width}.png"), full_page=True)
    assert errors == []


# --- the heatmap's pictures, checked as properties (issue 16, item 4) ----------------------------------

#: Time panels of the dashboard: each must put one instant at one pixel x.
TIME_VIEWS = ("price", "regimes", "oi", "funding", "funding_grid", "liquidations", "perp_spot", "ratios")

_BOXES = """sel => Array.from(document.querySelectorAll(sel)).map(e => {
  const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"""


def _overlaps(boxes: list[list[float]]) -> list[tuple[int, int]]:
    """Pairs of boxes (left, top, right, bottom; px) that share any area."""
    return [
        (i, j)
        for i, a in enumerate(boxes)
        for j, b in enumerate(boxes[:i])
        if min(a[2], b[2]) - max(a[0], b[0]) > 0.5 and min(a[3], b[3]) - max(a[1], b[1]) > 0.5
    ]


def _screen_x(page, chart: str, axis: str, values: list[float]) -> list[float]:  # type: ignore[no-untyped-def]
    """Page pixel x of ``values`` (ms for a date axis) on ``axis`` of a Plotly chart: the chart's left,
    the axis's offset in it and Plotly's own data → pixel map (what it drew the marks with)."""
    return page.evaluate(
        """([id, ax, vs]) => { const gd = document.getElementById(id), a = gd._fullLayout[ax];
           const left = gd.getBoundingClientRect().left;
           return vs.map(v => left + a._offset + a.l2p(v)); }""",
        [chart, axis, values],
    )


def _shots() -> Path:
    d = Path(os.environ.get("HEATVIZ_SHOTS", _artifacts()))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.mark.parametrize("width", [1440, 390])
def test_dashboard_heatmap_labels_axes_and_colour_bar(server: str, browser, width: int) -> None:  # type: ignore[no-untyped-def]
    """The symbol view's heatmap at desktop and phone width: zone labels never overlap, every time panel
    puts one instant at one pixel x, the colour bar lies flat and slim on top (it takes no width from
    the plot), the modebar covers no legend, zones start at the bar they were computed at."""
    page = browser.new_page(viewport={"width": width, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/?venue=binance&symbol=BTC-USDT-PERP&from=2026-03-01&to=2026-03-19&poll=600")
    _rendered(page, "binance:BTC-USDT-PERP")
    page.wait_for_timeout(300)  # Plotly lays annotations out after the react call resolves

    labels = page.evaluate(_BOXES, "#chart-price .annotation")
    assert len(labels) == 10  # 5 long + 5 short zones, each labelled
    assert _overlaps(labels) == []

    # zones are drawn from the last bar's close (where they were computed), not across the history
    candles = "document.getElementById('chart-price').data.find(t => t.type === 'candlestick')"
    last = page.evaluate(f"{candles}.x.slice(-1)[0].getTime()")
    starts = page.evaluate(
        "document.getElementById('chart-price').layout.shapes.filter(s => s.type === 'rect')"
        ".map(s => new Date(s.x0).getTime())"
    )
    assert len(starts) == 10 and set(starts) == {last + 3_600_000}  # the close of the last 1h bar

    # one time axis: the same range in every drawn time panel, the same pixel x for the same instant
    # a panel without data keeps its section and says why (class "empty"): it has no axis to align
    empty = "document.getElementById('view-{}').classList.contains('empty')"
    drawn = [v for v in TIME_VIEWS if not page.evaluate(empty.format(v))]
    assert {"price", "oi", "funding"} <= set(drawn)
    first_ms = page.evaluate(f"{candles}.x[0].getTime()")
    probe = [first_ms, last]
    xs = {v: _screen_x(page, f"chart-{v}", "xaxis", probe) for v in drawn}
    for v, got in xs.items():
        assert got == pytest.approx(xs["price"], abs=1.0), (v, got, xs["price"])
    # and the panels' plot areas (Plotly's drag rectangles) start and end at the same pixels
    areas = {v: page.evaluate(_BOXES, f"#chart-{v} .xy .nsewdrag")[0] for v in drawn}
    assert max(a[0] for a in areas.values()) - min(a[0] for a in areas.values()) <= 1.0
    assert max(a[2] for a in areas.values()) - min(a[2] for a in areas.values()) <= 1.0

    # the colour bar lies flat above the plot: slim, and it takes none of the plot's width
    bar = page.evaluate(_BOXES, "#chart-price .colorbar")[0]
    chart = page.evaluate(_BOXES, "#chart-price")[0]
    plot_area = areas["price"]
    assert bar[3] - bar[1] <= 60  # px high, title and tick labels included
    assert bar[3] <= plot_area[1] + 1  # above the plot, not beside it
    assert (plot_area[2] - plot_area[0]) >= (chart[2] - chart[0]) - 125  # only the fixed 60 + 60 px margins

    # the modebar covers no legend, in any panel
    for v in [*drawn, "liqmap"]:
        mode = page.evaluate(_BOXES, f"#chart-{v} .modebar")
        legend = page.evaluate(_BOXES, f"#chart-{v} .legend")
        assert not (mode and legend and _overlaps([mode[0], legend[0]])), v

    # every legend label is shown whole: no entry's text runs past its legend's box (Plotly clips it
    # there; at 390 px the funding panel's venue names and the regime band's "deleveraging_flush" were cut)
    for v in [*drawn, "liqmap"]:
        box = page.evaluate(_BOXES, f"#chart-{v} .legend .bg")
        for text in page.evaluate(_BOXES, f"#chart-{v} .legend .legendtext"):
            assert box and text[2] <= box[0][2] + 0.5, (v, text, box)

    # the liquidation map: bars per row and cumulative curves, from the current book
    lm = page.evaluate("document.getElementById('chart-liqmap').data.map(t => [t.type, t.name])")
    assert [t for t, _ in lm] == ["bar", "bar", "scatter", "scatter"]
    page.screenshot(path=str(_shots() / f"dashboard-btc-{width}.png"), full_page=True)
    for v in ("price", "liqmap", "regimes"):  # each panel alone, to look at at phone width
        page.locator(f"#view-{v}").screenshot(path=str(_shots() / f"dashboard-btc-{width}-{v}.png"))
    assert not errors, errors


@pytest.mark.parametrize("width", [1440, 390])
def test_heatmap_page_labels_and_price_axes(store: Path, browser, tmp_path: Path, width: int) -> None:  # type: ignore[no-untyped-def]
    """The page ``perpscope heatmap --out`` writes, opened in Chromium: zone labels never overlap, the
    liquidation map and its cumulative panel put one price at one pixel x, every axis names its unit."""
    from typer.testing import CliRunner

    from perpscope.cli.main import app

    out = tmp_path / "btc.html"
    args = ["--data-dir", str(store), "heatmap", "BTCUSDT", "--from", "2026-03-01", "--to", "2026-03-19"]
    res = CliRunner().invoke(app, [*args, "--out", str(out)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    page = browser.new_page(viewport={"width": width, "height": 1200})
    page.goto(out.as_uri())
    page.wait_for_selector(".main-svg .annotation")
    page.wait_for_timeout(300)
    gd = "document.querySelector('.plotly-graph-div')"
    names = page.evaluate(f"{gd}.layout.annotations.map(a => a.name || '')")
    labels = page.evaluate(_BOXES, ".annotation")
    zone_boxes = [b for b, n in zip(labels, names, strict=True) if n.startswith("zone-")]
    assert len(zone_boxes) == 10 and _overlaps(zone_boxes) == []
    # liquidation map (x3) and cumulative panel (x4) over the same prices: same pixel x for one price
    rng = page.evaluate(f"{gd}._fullLayout.xaxis3.range")
    probe = [rng[0] + (rng[1] - rng[0]) * q for q in (0.1, 0.5, 0.9)]
    gd_id = page.evaluate(f"{gd}.id")
    assert _screen_x(page, gd_id, "xaxis3", probe) == pytest.approx(
        _screen_x(page, gd_id, "xaxis4", probe), abs=1.0
    )
    titles = page.evaluate(
        f"""Object.entries({gd}._fullLayout).filter(([k]) => /^[xy]axis\\d*$/.test(k))
            .map(([k, a]) => [k, (a.title && a.title.text) || '', a.tickprefix || ''])"""
    )
    units = {k: (t, p) for k, t, p in titles}
    assert "USDT" in units["yaxis"][0] and "UTC" in units["xaxis"][0]  # price and time
    assert "USD per" in units["xaxis2"][0] and units["yaxis3"][1] == "$" and units["yaxis4"][1] == "$"
    page.screenshot(path=str(_shots() / f"heatmap-page-btc-{width}.png"), full_page=True)
