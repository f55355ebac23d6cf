"""Who may ask: the ``Host``/``Origin`` check of a loopback server and the token check.

A server bound to 127.0.0.1 without a token is reachable by any web page the user opens, through DNS
rebinding: the page's own name is made to resolve to 127.0.0.1, so the browser sends its requests to the
local server with ``Host: attacker.example``. Answering only the loopback names (with the port) shuts
that out; a browser's ``Origin``, when sent, must be one of them too (a page elsewhere gets 403).
With a token configured every ``/api`` request must carry it (compared in constant time).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from perpscope.api.config import ApiConfig
from perpscope.api.json_response import error

#: The names a browser on this machine uses for a loopback server.
LOOPBACK_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1", "[::1]")

Handler = Callable[[Request], Awaitable[Response]]


def loopback_hosts(port: int) -> frozenset[str]:
    """``Host`` values of a loopback server on ``port``: ``localhost:PORT``, ``127.0.0.1:PORT``,
    ``[::1]:PORT`` (and the bare names on port 80, where browsers leave the port out)."""
    hosts = {f"{n}:{port}" for n in LOOPBACK_NAMES}
    return frozenset(hosts | set(LOOPBACK_NAMES) if port == 80 else hosts)


def host_refusal(request: Request, allowed: frozenset[str]) -> str | None:
    """Why the request's ``Host`` or ``Origin`` is not one of ``allowed`` (``None``: it is)."""
    host = request.headers.get("host", "").lower()
    if host not in allowed:
        return (
            f"host {host[:80]!r} is not served: this server answers {', '.join(sorted(allowed))} only "
            "(a loopback server refuses other names, which shuts out DNS rebinding)"
        )
    origin = request.headers.get("origin")
    if origin is not None and origin.lower() not in {f"http://{h}" for h in allowed}:
        return f"origin {origin[:80]!r} is not served: pages from other sites may not read this server"
    return None


def authorized(request: Request, token: str) -> bool:
    """The request carries ``token`` (``Authorization: Bearer TOKEN``, or ``?token=``)."""
    got = request.headers.get("authorization", "")
    cand = got[7:] if got.lower().startswith("bearer ") else request.query_params.get("token", "")
    return hmac.compare_digest(cand.encode(), token.encode())


def guard(config: ApiConfig) -> Callable[[Request, Handler], Awaitable[Response]]:
    """The HTTP middleware enforcing :attr:`ApiConfig.allowed_hosts`, :attr:`ApiConfig.token` and
    :attr:`ApiConfig.max_response_bytes`."""

    async def check(request: Request, call_next: Handler) -> Response:
        if config.allowed_hosts is not None:
            why = host_refusal(request, config.allowed_hosts)
            if why is not None:
                return error(403, why)
        if config.token and request.url.path.startswith("/api") and not authorized(request, config.token):
            return error(401, "missing or wrong token (Authorization: Bearer …)")
        response = await call_next(request)
        size = response.headers.get("content-length")
        if size is not None and int(size) > config.max_response_bytes:
            return error(
                413,
                f"answer of {int(size):,} bytes exceeds {config.max_response_bytes:,}; "
                "ask for a shorter range or fewer points",
            )
        return response

    return check
