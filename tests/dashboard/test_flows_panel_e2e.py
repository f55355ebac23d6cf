"""The dashboard's flows panel in headless Chromium, on ``perpscope serve`` over the store imported from
the whole shared data: it draws the coin's flows on the price chart's time axis and states the flow
evidence; the page shows no flows section (and no error) where the store has no flow record."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.dashboard.test_e2e import _artifacts, _rendered, browser, server, shared_server, store

pytestmark = pytest.mark.shared
__all__ = ["browser", "server", "shared_server", "store"]  # fixtures used here


@pytest.mark.parametrize("width", [1440, 390])
def test_flows_panel_on_the_price_axis(shared_server: str, browser, width: int) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": width, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{shared_server}/?venue=binance&symbol=BTC-USDT-PERP&from=2025-09-01&to=2025-11-01")
    _rendered(page, "binance:BTC-USDT-PERP")
    page.wait_for_selector("#view-flows[data-rendered]", timeout=60_000)
    # the four strips are drawn, on exactly the price chart's x range
    assert int(page.get_attribute("#chart-flows", "data-points") or 0) > 100
    price = page.evaluate("document.getElementById('chart-price').layout.xaxis.range")
    flows = page.evaluate("document.getElementById('chart-flows').layout.xaxis.range")
    assert flows == price
    strips = page.evaluate("document.getElementById('chart-flows').layout.annotations.map(a => a.text)")
    names = [x.split(",")[0] for x in strips]
    assert names == ["ETF flow", "stablecoins Δ7d", "CME net", "perp/spot 24h"]
    # the evidence at the range's end (2025-11-01): ETF, stablecoins, perp/spot and CME all present
    text = page.inner_text("#flows-evidence")
    assert text.startswith("Flow evidence at 2025-11-01 00:00 UTC: ETF 5-day flow")
    assert "missing" not in text
    page.locator("#view-flows").screenshot(path=str(_artifacts() / f"flows-{width}.png"))
    assert errors == []
    page.close()


def test_no_flows_section_without_flow_records(server: str, browser, store: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/?venue=binance&symbol=BTC-USDT-PERP")
    _rendered(page, "binance:BTC-USDT-PERP")
    page.wait_for_selector("#view-flows", state="attached", timeout=30_000)
    assert page.get_attribute("#view-flows", "hidden") is not None
    assert "no flow records" in (page.get_attribute("#view-flows", "data-hidden-reason") or "")
    assert errors == []
    page.close()
