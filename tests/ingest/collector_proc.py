"""A collector process for the kill -9 test.

``python collector_proc.py <ws_url> <rest_url> <data_dir> <flush_s>``
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from perpscope.ingest.live import Collector, LiveConfig
from perpscope.store import Lake
from perpscope.venues.binance.client import BinanceClient, BinanceUrls
from perpscope.venues.binance.live import BinanceLive


async def main(ws_url: str, rest_url: str, data_dir: Path, flush_s: float) -> None:
    feed = BinanceLive(BinanceClient(BinanceUrls(rest_url, rest_url, ws_url)), ["BTCUSDT"], ["trades"])
    col = Collector([feed], Lake(data_dir), data_dir, LiveConfig(flush_seconds=flush_s, status_seconds=0.1))
    col.install_signal_handlers()
    await col.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), float(sys.argv[4])))
