"""A real HTTP server on 127.0.0.1 serving a folder in the archive layout, with injectable faults.

Supports ``Range: bytes=N-`` (206, or 416 past the end) like the archive's CDN; faults: a path answering
500 once or always, a path answering 429 with ``Retry-After`` once, a server that ignores Range (answers
200), and a connection cut after N bytes.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class ArchiveServer:
    """``with ArchiveServer(root) as srv: srv.base_url``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[tuple[str, str | None]] = []
        self.fail_once: set[str] = set()
        self.always_fail: set[str] = set()
        self.rate_limit_once: dict[str, str] = {}  # path → the Retry-After header of its one 429
        self.drop_after: dict[str, int] = {}
        self.ignore_range = False
        self.lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def gets(self, suffix: str) -> list[str | None]:
        """Range headers of the GETs whose path ends with ``suffix`` (None: no Range)."""
        with self.lock:
            return [rng for path, rng in self.requests if path.endswith(suffix)]

    def __enter__(self) -> ArchiveServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                rng = self.headers.get("Range")
                with server.lock:
                    server.requests.append((path, rng))
                    fail = path in server.always_fail or path in server.fail_once
                    server.fail_once.discard(path)
                    drop = server.drop_after.pop(path, None)
                    limited = server.rate_limit_once.pop(path, None)
                if limited is not None:
                    return self._send(429, b"too many requests", {"Retry-After": limited})
                if fail:
                    return self._send(500, b"server error")
                f = server.root / path.lstrip("/")
                if not f.is_file():
                    return self._send(404, b"<Error><Code>NoSuchKey</Code></Error>")
                data = f.read_bytes()
                m = re.match(r"bytes=(\d+)-$", rng or "")
                if m and not server.ignore_range:
                    start = int(m.group(1))
                    if start >= len(data):
                        return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                    rng_hdr = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
                    return self._send(206, data[start:], rng_hdr, drop)
                return self._send(200, data, {"Accept-Ranges": "bytes"}, drop)

            def _send(
                self, code: int, body: bytes, headers: dict[str, str] | None = None, drop: int | None = None
            ) -> None:
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if drop is not None:  # promise the whole body, send part of it, hang up
                    self.wfile.write(body[:drop])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None and self._thread is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
