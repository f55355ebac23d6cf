"""Flow collectors (DefiLlama stablecoins, CFTC TFF) against a real HTTP server on 127.0.0.1 replaying the
APIs' documented answer shapes (``tests/fixtures/flows``, real values) with faults injected: a 500, a body
that is not JSON, a 429 with Retry-After, an error page instead of data, and Socrata paging."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from perpscope.core.errors import VenueError
from perpscope.records import STABLECOIN_SUPPLY
from perpscope.store import Lake
from perpscope.store.reader import read
from perpscope.venues.flows import cftc
from perpscope.venues.flows.cftc import CftcClient, parse_tff
from perpscope.venues.flows.defillama import DefiLlamaClient

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "flows"


def t(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


class Server:
    """``/stablecoin/1`` and ``/resource/yw9f-hn96.json`` (SoQL ``$limit``/``$offset``); ``faults[path]``
    is a queue of (status, body, headers) answered before the data."""

    def __init__(self) -> None:
        self.stable = json.loads((FIX / "defillama_stablecoin_1.json").read_text())
        self.tff = json.loads((FIX / "cftc_tff_133741.json").read_text())
        self.faults: dict[str, deque[tuple[int, bytes, dict[str, str]]]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                u = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(u.query).items()}
                srv.requests.append((u.path, q))
                queue = srv.faults.get(u.path)
                if queue:
                    status, body, headers = queue.popleft()
                    return self._send(status, body, headers)
                if u.path == "/stablecoin/1":
                    return self._send(200, json.dumps(srv.stable).encode())
                if u.path == cftc.TFF_PATH:
                    rows = [
                        r for r in srv.tff if f"'{r['cftc_contract_market_code']}'" in q.get("$where", "")
                    ]
                    off, lim = int(q.get("$offset", 0)), int(q.get("$limit", 1000))
                    return self._send(200, json.dumps(rows[off : off + lim]).encode())
                return self._send(404, b'{"error":true,"message":"not found"}')

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


async def _no_wait(_: float) -> None:
    return None


def test_stablecoin_supply_through_faults(server: Server, tmp_path: Path) -> None:
    server.faults["/stablecoin/1"] = deque(
        [(500, b"upstream", {}), (200, b"<html>not json</html>", {}), (429, b"{}", {"Retry-After": "1"})]
    )

    async def run() -> Any:
        c = DefiLlamaClient(server.url, sleep=_no_wait, backoff_s=0)
        try:
            return await c.supply("usdt")
        finally:
            await c.aclose()

    df = asyncio.run(run())
    assert len(server.requests) == 4  # three faults, then the answer
    # the documented days, the intraday last entry dropped: USDT 177.42 B on 2025-10-10 (SOURCES.md §11)
    days = dict(zip(df["ts_ms"].dt.epoch("ms"), df["supply_usd"], strict=True))
    assert sorted(days) == [t("2025-10-08"), t("2025-10-09"), t("2025-10-10"), t("2025-10-11")]
    assert days[t("2025-10-10")] == 177415123608.0
    assert set(df["canonical"]) == {"USDT-USD-SPOT"} and set(df["source"]) == {"rest:defillama"}
    lk = Lake(tmp_path / "data")
    lk.write(STABLECOIN_SUPPLY, df)
    assert read(lk, "stablecoin_supply", venue="all_chains", symbol="USDT-USD-SPOT").height == 4


def test_an_error_page_is_an_error_not_an_empty_history(server: Server) -> None:
    server.faults["/stablecoin/1"] = deque([(200, b'{"message": "Internal error"}', {})])

    async def run() -> Any:
        c = DefiLlamaClient(server.url, sleep=_no_wait, backoff_s=0)
        try:
            return await c.supply("USDT")
        finally:
            await c.aclose()

    with pytest.raises(VenueError, match="tokens"):
        asyncio.run(run())
    with pytest.raises(VenueError, match="no stablecoin id"):
        asyncio.run(DefiLlamaClient(server.url).supply("DAI"))


def test_cftc_tff_paged_and_stamped_at_release(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cftc, "PAGE", 2)  # three rows: two pages
    server.faults[cftc.TFF_PATH] = deque([(503, b"busy", {})])

    async def run() -> Any:
        c = CftcClient(server.url, sleep=_no_wait, backoff_s=0)
        try:
            return await c.tff("133741")
        finally:
            await c.aclose()

    df = asyncio.run(run())
    pages = [q for p, q in server.requests if p == cftc.TFF_PATH]
    assert [q.get("$offset") for q in pages] == ["0", "0", "2"]  # the 503, then two pages
    assert all(q["$order"] == "report_date_as_yyyy_mm_dd" for q in pages)
    # 2025-10-07 (SOURCES.md §12): oi 31,223 contracts, leveraged funds 3,221 / 17,275, × 5 BTC; public
    # on Friday 10 October 21:00 UTC; the Monday report of 2023-07-03 on Friday 7 July
    stamps = list(df["ts_ms"].dt.epoch("ms"))
    assert stamps == [t("2023-07-07T21:00"), t("2025-10-03T21:00"), t("2025-10-10T21:00")]
    last = df.row(-1, named=True)
    assert (last["oi_base"], last["lev_long_base"], last["lev_short_base"]) == (
        31223 * 5,
        3221 * 5,
        17275 * 5,
    )
    assert (last["venue"], last["symbol"], last["canonical"]) == ("cme", "133741", "BTC-AGG-PERP")


def test_cftc_rows_that_are_not_reports_are_refused() -> None:
    with pytest.raises(VenueError, match="list of report rows"):
        parse_tff({"error": True, "message": "query timeout"})
    with pytest.raises(VenueError, match="without its date"):
        parse_tff([{"open_interest_all": "1"}])
    with pytest.raises(VenueError, match="unknown contract market code"):
        parse_tff([], code="999999")


def test_fetch_flows_command_stores_both_series(server: Server, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from perpscope.cli.main import app

    data = tmp_path / "data"
    args = ["--data-dir", str(data), "fetch-flows", "--stablecoins", "USDT", "--defillama-url", server.url,
            "--cftc-url", server.url]  # fmt: skip
    res = CliRunner().invoke(app, args, env={"COLUMNS": "100"})
    assert res.exit_code == 0, res.output
    assert "stablecoin_supply USDT: 4 rows fetched, 4 new" in res.output
    assert "futures_positioning 133741: 3 rows fetched, 3 new" in res.output
    again = CliRunner().invoke(app, args, env={"COLUMNS": "100"})
    assert "futures_positioning 133741: 3 rows fetched, 0 new" in again.output  # idempotent
    cme = read(Lake(data), "futures_positioning", venue="cme", symbol="BTC-AGG-PERP")
    assert cme.height == 3
