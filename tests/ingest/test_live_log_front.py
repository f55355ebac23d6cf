"""Front ends see live rows while they are only in the collector's write-ahead log (issue 20).

On a store imported the README way from the whole shared data, a collector replays the recorded
Binance liquidations (``../shared/data/binance_force_orders``) from a real loopback websocket server.
While it runs, its rows are committed to its log and not yet sealed into Parquet: ``perpscope store
info`` (per coin and ``--json``), ``perpscope store compact`` and the API (``/coverage``,
``/records``, ``/version``) must already show them. After the collector stops (its log sealed into
parts), every answer is the same.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "venues" / "binance"))

from binance_data import force_order_messages
from binance_servers import FakeBinanceRest, FakeBinanceWs

from perpscope.cli.main import app
from perpscope.ingest.live import Collector, LiveConfig
from perpscope.store import Lake
from perpscope.store.live_log import log_files
from perpscope.store.reader import read
from perpscope.venues.binance.client import BinanceClient, BinanceUrls
from perpscope.venues.binance.live import BinanceLive

runner = CliRunner()


def _front_ends(data: Path) -> dict[str, Any]:
    """What the front ends answer about the store's Binance liquidations."""
    from fastapi.testclient import TestClient

    from perpscope.cli.serve_cmd import build_app

    lines = runner.invoke(app, ["--data-dir", str(data), "store", "info", "--json", "-r", "liquidations"])
    assert lines.exit_code == 0, lines.output
    series = [json.loads(s) for s in lines.output.splitlines() if s.strip()]
    info = runner.invoke(app, ["--data-dir", str(data), "store", "info", "--all"], env={"COLUMNS": "80"})
    assert info.exit_code == 0, info.output
    client = TestClient(build_app(data, port=8000), base_url="http://127.0.0.1:8000")
    cov = client.get("/api/v1/coverage").json()["coverage"]
    btc = client.get(
        "/api/v1/records/liquidations",
        # the recording's two days (2025-12-27/28)
        params={"venue": "binance", "symbol": "BTC-USDT-PERP", "from": "2025-12-27", "to": "2025-12-29"},
    ).json()
    return {
        "series": {(s["venue"], s["canonical"]): (s["rows"], tuple(s["sources"])) for s in series},
        "info": info.output,
        "coverage": {(c["venue"], c["canonical"]): c["rows"] for c in cov if c["record"] == "liquidations"},
        "btc_total": btc["total"],
        "version": client.get("/api/v1/version").json(),
        "stream_rows": read(Lake(data), "liquidations", venue="binance", sources="all")
        .filter(pl.col("source") == "stream:binance")
        .height,
        "btc_stream_rows": read(Lake(data), "liquidations", venue="binance", symbol="BTCUSDT", sources="all")
        .filter(pl.col("source") == "stream:binance")
        .height,
    }


@pytest.mark.shared
def test_store_info_compact_and_the_api_see_rows_still_in_the_live_log(
    shared_store: Path, shared_data: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(shared_store, data)
    before = _front_ends(data)
    msgs = [json.dumps(m) for m in force_order_messages(shared_data)]
    seen: dict[str, Any] = {}

    async def go() -> None:
        with FakeBinanceRest() as rest:
            async with FakeBinanceWs(lambda n: (msgs, "hold")) as ws:
                client = BinanceClient(BinanceUrls(rest.url, rest.url, ws.url), backoff_s=0.01)
                feed = BinanceLive(client, ["BTCUSDT"], ["liquidations"])
                cfg = LiveConfig(flush_seconds=0.05, seal_age_s=3600)  # nothing sealed while it runs
                col = Collector([feed], Lake(data), data, cfg)
                task = asyncio.create_task(col.run())
                for _ in range(600):
                    got = sum(s.messages for s in col.streams.values())
                    if ws.done.is_set() and got >= 2040 and col.sink.pending == 0 and col.sink.flushes:
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.2)  # the last flush committed
                seen["logs"] = [p.name for p in log_files(Lake(data), "liquidations")]
                seen["during"] = await asyncio.to_thread(_front_ends, data)
                # store compact while the collector runs: its log is live, left alone
                out = await asyncio.to_thread(
                    runner.invoke, app, ["--data-dir", str(data), "store", "compact"]
                )
                seen["compact"] = out
                seen["after_compact"] = await asyncio.to_thread(_front_ends, data)
                col.stop()
                await asyncio.wait_for(task, 30)

    asyncio.run(go())
    during, after_compact = seen["during"], seen["after_compact"]
    assert seen["logs"], "the collector committed to its log"
    live = during["stream_rows"]
    assert live > 1000  # the recording's liquidations, deduplicated per key
    # store info --json: Binance liquidation rows grew by the live rows, and their source is listed
    grown = {
        k: during["series"][k][0] - before["series"].get(k, (0, ()))[0]
        for k in during["series"]
        if k[0] == "binance"
    }
    assert sum(grown.values()) == live
    assert "stream:binance" in during["series"][("binance", "BTC-USDT-PERP")][1]
    assert during["info"] != before["info"]  # the per-coin table counts them too
    # the API: coverage counts them, the records page serves them, the store version moved
    assert sum(during["coverage"].get(k, 0) - before["coverage"].get(k, 0) for k in grown) == live
    assert during["btc_total"] >= during["btc_stream_rows"] > 0
    assert during["version"] != before["version"]
    # store compact left the running collector's log, and changed nothing a reader sees
    assert seen["compact"].exit_code == 0, seen["compact"].output
    assert "left to them" in seen["compact"].output
    assert {k: v for k, v in after_compact.items() if k != "version"} == {
        k: v for k, v in during.items() if k != "version"
    }
    # stopped: the log sealed into parts, every answer the same
    assert not log_files(Lake(data), "liquidations")
    after = _front_ends(data)
    assert {k: v for k, v in after.items() if k != "version"} == {
        k: v for k, v in during.items() if k != "version"
    }
