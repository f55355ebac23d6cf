"""The Binance loopback REST server (tests/venues/binance/binance_servers.py) taught to answer POSTs, as
Hyperliquid's ``/info`` endpoint needs: the JSON body is what ``answer(path, body)`` receives, and the
queued faults and request log work as for GETs (faults are keyed by the body's ``type``)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "binance"))

from binance_servers import FakeBinanceRest


class FakeHyperliquidInfo(FakeBinanceRest):
    """``with FakeHyperliquidInfo() as srv``: ``srv.answer(path, body)``; ``srv.fault(type, action)``."""

    def __enter__(self) -> FakeHyperliquidInfo:
        super().__enter__()
        assert self._httpd is not None
        srv = self

        def do_POST(handler: Any) -> None:
            n = int(handler.headers.get("Content-Length") or 0)
            try:
                body = json.loads(handler.rfile.read(n) or b"{}")
            except ValueError:
                body = {}
            kind = str(body.get("type", ""))
            with srv.lock:
                srv.requests.append((time.monotonic(), kind, body))
                queue = srv.faults.get(kind)
                action = queue.popleft() if queue else None
            if action is not None:
                what, arg = action
                if what == "garbage":
                    return handler._send(200, b"<html>oops")
                if isinstance(what, int):
                    return handler._send(what, b'{"error": "rate limited"}', arg or {})
            out = srv.answer(handler.path, body)
            if out is None:
                return handler._send(422, b"Failed to deserialize the JSON body")
            return handler._send(200, json.dumps(out).encode())

        self._httpd.RequestHandlerClass.do_POST = do_POST  # type: ignore[attr-defined]
        return self
