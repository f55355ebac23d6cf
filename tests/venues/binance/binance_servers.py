"""Real loopback servers for the Binance client tests: an HTTP REST server and a websocket server.

Both replay recorded payloads (documented examples and real values from ``../shared/data``) and inject
faults on demand. The HTTP server is stdlib ``http.server`` in a thread; the websocket server is the
``websockets`` package's asyncio server, run in the test's event loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from websockets.asyncio.server import ServerConnection, serve


class FakeBinanceRest:
    """``with FakeBinanceRest() as srv: srv.url``. Data per endpoint; faults queued per path.

    Attributes
    ----------
    klines : dict symbol → list of kline arrays (open time ascending)
    funding : list of fundingRate dicts
    stats : dict endpoint path → dict symbol → list of dicts with ``timestamp``
    agg_trades : dict symbol → list of aggTrade REST dicts (``a`` ascending)
    faults : dict path → deque of actions, consumed one per request:
        ``(status, headers)`` answers that status; ``("slow", s)`` sleeps s then answers;
        ``("garbage", None)`` answers 200 with a non-JSON body.
    """

    def __init__(self) -> None:
        self.klines: dict[str, list[list[Any]]] = {}
        self.funding: list[dict[str, Any]] = []
        self.stats: dict[str, dict[str, list[dict[str, Any]]]] = {}
        self.agg_trades: dict[str, list[dict[str, Any]]] = {}
        self.oi_now: dict[str, dict[str, Any]] = {}
        self.funding_info: list[dict[str, Any]] = []
        self.faults: dict[str, deque[tuple[Any, Any]]] = {}
        self.always: dict[str, tuple[int, dict[str, str]]] = {}
        self.requests: list[tuple[float, str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def fault(self, path: str, *actions: tuple[Any, Any]) -> None:
        self.faults.setdefault(path, deque()).extend(actions)

    def hits(self, path: str) -> list[tuple[float, dict[str, str]]]:
        with self.lock:
            return [(t, q) for t, p, q in self.requests if p == path]

    def answer(self, path: str, q: dict[str, str]) -> Any:
        lim = int(q.get("limit", 500))
        start = int(q.get("startTime", 0))
        end = int(q.get("endTime", 2**62))
        if path in ("/fapi/v1/klines", "/fapi/v1/markPriceKlines", "/api/v3/klines"):
            rows = self.klines.get(q["symbol"], [])
            return [r for r in rows if start <= r[0] <= end][:lim]
        if path == "/fapi/v1/fundingRate":
            rows = [
                r for r in self.funding if r["symbol"] == q["symbol"] and start <= r["fundingTime"] <= end
            ]
            return rows[:lim]
        if path == "/fapi/v1/fundingInfo":
            return self.funding_info
        if path == "/fapi/v1/openInterest":
            return self.oi_now.get(q["symbol"])
        if path == "/fapi/v1/premiumIndex":
            return {"symbol": q["symbol"], "markPrice": "100000.0"}
        if path == "/fapi/v1/aggTrades":
            fid = int(q["fromId"])
            return [r for r in self.agg_trades.get(q["symbol"], []) if r["a"] >= fid][:lim]
        if path in self.stats:
            rows = self.stats[path].get(q["symbol"], [])
            return [r for r in rows if start <= int(r["timestamp"]) <= end][:lim]
        return None

    def __enter__(self) -> FakeBinanceRest:
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                u = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(u.query).items()}
                with srv.lock:
                    srv.requests.append((time.monotonic(), u.path, q))
                    queue = srv.faults.get(u.path)
                    action = queue.popleft() if queue else None
                    always = srv.always.get(u.path)
                if always is not None:
                    return self._send(always[0], b'{"code": 0, "msg": "blocked"}', always[1])
                if action is not None:
                    kind, arg = action
                    if kind == "slow":
                        time.sleep(arg)
                    elif kind == "garbage":
                        return self._send(200, b"<html>oops")
                    elif isinstance(kind, int):
                        return self._send(kind, b'{"code": -1003, "msg": "Too many requests"}', arg or {})
                body = srv.answer(u.path, q)
                if body is None:
                    return self._send(400, b'{"code": -1121, "msg": "Invalid symbol."}')
                return self._send(200, json.dumps(body).encode())

            def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()


class FakeBinanceWs:
    """A websocket server replaying a script of frames to each connection.

    ``script(conn_no)`` returns the frames (text) to send on the ``conn_no``-th connection (0-based) and
    what to do after: ``"close"`` (drop the connection: the collector must reconnect) or ``"hold"`` (stay
    open until the test stops the server). ``paths`` records each connection's request path.
    """

    def __init__(self, script: Callable[[int], tuple[list[str], str]], delay_s: float = 0.0) -> None:
        self.script = script
        self.delay_s = delay_s
        self.connections = 0
        self.paths: list[str] = []
        self.sent = 0
        self.done = asyncio.Event()
        self._server: Any = None

    @property
    def url(self) -> str:
        port = self._server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}"

    async def _handler(self, ws: ServerConnection) -> None:
        n = self.connections
        self.connections += 1
        self.paths.append(ws.request.path if ws.request else "")
        frames, after = self.script(n)
        for f in frames:
            await ws.send(f)
            self.sent += 1
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        if after == "close":
            await ws.close()
            return
        self.done.set()
        await ws.wait_closed()  # hold until the server (or the client) closes

    async def __aenter__(self) -> FakeBinanceWs:
        self._server = await serve(self._handler, "127.0.0.1", 0, compression=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()


def liquidation_socket(n: int, linger_s: float = 60.0) -> int:
    """A websocket server on 127.0.0.1, in a daemon thread, sending each client ``n`` recorded Binance
    forceOrder frames (the documented example, one liquidation a millisecond apart) and then holding the
    connection; it stops ``linger_s`` after it started. Returns its port. For tests that run
    ``perpscope collect`` as a real process (a thread of its own, unlike :class:`FakeBinanceWs`)."""
    from binance_data import ws_examples

    msg = json.dumps({"stream": "!forceOrder@arr", "data": ws_examples()["forceOrder"]})
    ready, port = threading.Event(), []

    async def handler(ws: ServerConnection) -> None:
        for i in range(n):
            ev = json.loads(msg)
            ev["data"]["o"]["T"] += i
            await ws.send(json.dumps(ev))
        await ws.wait_closed()

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            port.append(server.sockets[0].getsockname()[1])
            ready.set()
            await asyncio.sleep(linger_s)

    threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
    assert ready.wait(5), "the websocket server did not start"
    return port[0]
