"""The dashboard's home screener and its error states in headless Chromium, over ``perpscope serve`` on
the store imported from all of ``../shared/data`` (issue 16, item 5). Screenshots of the home at 1440 and
390 px go to the test artifacts (``$PERPSCOPE_TEST_ARTIFACTS``)."""

from __future__ import annotations

import httpx
import pytest
from tests.dashboard.test_e2e import _artifacts, _rendered, browser, shared_server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.shared


@pytest.mark.parametrize("width", [1440, 390])
def test_home_lists_every_perp_and_a_row_opens_its_view(shared_server: str, browser, width: int) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    page = browser.new_page(viewport={"width": width, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{shared_server}/")
    page.wait_for_selector("#home[data-rows]", timeout=60_000)
    want = httpx.get(f"{shared_server}/api/v1/screener", timeout=60).json()["rows"]
    shown = page.eval_on_selector_all("#home tr[data-symbol]", "rs => rs.map(r => r.dataset.symbol)")
    assert shown == [r["canonical"] for r in want] and len(shown) >= 6
    # every row has its numbers and a regime; on a phone the table reads as cards that fit the width
    cells = page.eval_on_selector_all(
        "#home tr[data-symbol='SOL-USDT-PERP'] td", "ts => ts.map(t => [t.dataset.label, t.innerText])"
    )
    labels = [c[0] for c in cells]
    for label in ("price", "24h", "funding", "APR", "OI", "OI 1d", "regime now", "data to"):
        assert label in labels, labels
    assert all(text.strip() for _, text in cells)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    assert page.is_hidden("#pickers")  # the home has no symbol to pick a range of
    page.screenshot(path=str(_artifacts() / f"home-{width}.png"), full_page=True)
    page.click("#home tr[data-symbol='ETH-USDT-PERP'] td[data-label='price']")
    page.wait_for_url("**symbol=ETH-USDT-PERP**")
    page.wait_for_selector("#views")
    _rendered(page, "binance:ETH-USDT-PERP")
    page.screenshot(path=str(_artifacts() / f"symbol-from-home-{width}.png"), full_page=True)
    assert errors == []


def test_an_error_clears_the_charts_and_shows_the_coverage(shared_server: str, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.goto(f"{shared_server}/?venue=binance&symbol=SOL-USDT-PERP&poll=600")
    _rendered(page, "binance:SOL-USDT-PERP")
    assert page.evaluate("document.querySelectorAll('#views .js-plotly-plot').length") > 3
    # a panel without data says why instead of vanishing
    empty = page.eval_on_selector_all("#views section.view.empty", "s => s.map(x => x.innerText)")
    assert all("Not shown:" in text for text in empty)
    page.fill("#from", "2030-01-01")
    page.fill("#to", "2030-02-01")
    page.click("#apply")
    page.wait_for_selector("#problem #coverage table", timeout=30_000)
    assert page.evaluate("document.querySelectorAll('#views .js-plotly-plot').length") == 0
    assert "no perp trade candles" in page.inner_text("#problem")
    coverage = page.inner_text("#coverage")
    assert "SOL-USDT-PERP" in coverage and "candles" in coverage
    page.screenshot(path=str(_artifacts() / "error-coverage-1440.png"), full_page=True)


def test_favicon_is_served(shared_server: str) -> None:  # noqa: F811
    r = httpx.get(f"{shared_server}/favicon.ico", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert r.content.lstrip().startswith(b"<svg")
