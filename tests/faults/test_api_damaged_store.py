"""A damaged store file gives a clear error, never a silently hidden panel (issue 18).

One test per former ``except Exception`` of the API: the heatmap view (``views.heatmap_view``), the
regimes view and the cascade view (``api/optional.py``, now ``api/model_views.py``). Each answered
``{"available": false}`` for any error, so a truncated Parquet file looked like a symbol without a heatmap
or a cascade. The store is the bundled real demo data imported into a temporary directory, with one
month file of Binance BTC open interest cut in half (what a full disk or an interrupted copy leaves).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from fastapi.testclient import TestClient

from perpscope.api.model_views import cascade_view, regimes_view
from perpscope.assemble import StoreInputError
from perpscope.assemble.panel import MarketPanel
from perpscope.assemble.regime_reading import RegimeReading, read_regimes
from perpscope.assemble.scope import Scope
from perpscope.assemble.view import MarketView
from perpscope.core.errors import PerpscopeError
from perpscope.store import Lake

RANGE = {"symbol": "BTCUSDT", "from": "2026-03-01", "to": "2026-03-19"}


def _demo_store(root: Path) -> Path:
    from perpscope.cli.demo import demo_data_dir
    from perpscope.ingest.importer import import_paths
    from perpscope.store import Lake

    report = import_paths([demo_data_dir()], Lake(root))
    assert not report.failed
    return root


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from perpscope.cli.serve_cmd import build_app

    root = _demo_store(tmp_path_factory.mktemp("damaged") / "data")
    month = root / "open_interest" / "venue=binance" / "symbol=BTC-USDT-PERP" / "2026-03.parquet"
    assert month.exists(), sorted(p.name for p in month.parent.iterdir())
    data = month.read_bytes()
    month.write_bytes(data[: len(data) // 2])  # the footer is gone: not a readable Parquet file
    yield TestClient(build_app(root, port=8000), base_url="http://127.0.0.1:8000")


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from perpscope.cli.serve_cmd import build_app

    root = _demo_store(tmp_path_factory.mktemp("healthy") / "data")
    yield TestClient(build_app(root, port=8000), base_url="http://127.0.0.1:8000")


def _says_store_unreadable(r) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == 500, r.text
    msg = r.json()["error"]
    assert "could not be read" in msg and "parquet" in msg.lower(), msg


@pytest.mark.parametrize("route", ["heatmap", "zones", "cascade", "regimes", "dashboard", "metrics"])
def test_a_damaged_file_is_a_clear_error_not_a_hidden_panel(damaged, healthy, route: str) -> None:  # type: ignore[no-untyped-def]
    # the same request on the intact store answers 200 with the panel available
    ok = healthy.get(f"/api/v1/{route}", params=RANGE)
    assert ok.status_code == 200, ok.text
    if route in ("heatmap", "cascade", "regimes"):
        assert ok.json()["available"] is True
    _says_store_unreadable(damaged.get(f"/api/v1/{route}", params=RANGE))


def test_regimes_view_propagates_what_the_classifier_rejects() -> None:
    # formerly any classifier error became {"available": false}; a panel without its series keys is a
    # bug upstream and must surface (the API's regimes are read by assemble/regime_reading, which
    # classifies the panel: its error reaches the request)
    bad = pl.DataFrame({"ts_ms": [1, 2], "close": [1.0, 2.0]})
    view = MarketView("BTC", "BTC-USDT-PERP", Scope.parse("binance"), 0, 3, 1, "binance")
    with pytest.raises(PerpscopeError, match="expected columns"):
        read_regimes(Lake(Path("/nonexistent")), MarketPanel(bad, view, [], 0), "binance", flows=False)
    empty = RegimeReading(MarketPanel(pl.DataFrame(), view, [], 0), _NO_LABELS, None)
    assert regimes_view(empty)["available"] is False  # no bars: the one named case


def test_cascade_view_hides_only_the_named_unavailable_case() -> None:
    def lacks_books(venue: str, canonical: str, end_ms: int) -> pl.DataFrame:
        raise StoreInputError("no candles for binance BTC-USDT-PERP before 2026-03-19")

    def broken(venue: str, canonical: str, end_ms: int) -> pl.DataFrame:
        raise pl.exceptions.ComputeError("parquet: File out of specification")

    out = cascade_view(lacks_books, "binance", "BTC-USDT-PERP", 1)
    assert out["available"] is False and "no candles" in out["reason"]
    with pytest.raises(pl.exceptions.ComputeError):
        cascade_view(broken, "binance", "BTC-USDT-PERP", 1)


_NO_LABELS = pl.DataFrame(schema={"ts_ms": pl.Datetime("ms", "UTC"), "regime": pl.Utf8})
