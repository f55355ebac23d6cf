"""Shared async HTTP plumbing for venue clients: a token-bucket rate budget and JSON GET/POST with retries.

Rules every venue client follows through :class:`JsonClient`:

- **Rate budget.** Each request spends its documented *weight* from a :class:`TokenBucket` sized to the
  venue's published limit (e.g. Binance USDⓈ-M: 2,400 weight per minute per IP), so a backfill never
  trips the limit on its own.
- **429 / 418 (rate limited / IP banned).** The ``Retry-After`` header (seconds) is honoured: the client
  waits that long (capped at ``max_retry_after_s``; longer bans raise :class:`RateLimited` instead of
  hanging) and retries.
- **451, or 403 with a geo-blocking page (region blocked)** and other 4xx answers raise at once — no retry
  storm — with a message that says what to do (the public archive, another region). A 403 without such a
  page (Binance: a WAF rule; Bybit: an IP ban after exceeding the limit) is an ordinary 4xx error.
- **5xx, timeouts, broken connections and answers that are not JSON** are retried with jittered
  exponential backoff, a bounded number of times, then raise :class:`~perpscope.core.errors.VenueError`.

Waiting and retrying follow the one policy of :mod:`perpscope.venues.retry` (the archive downloader uses
it too).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from perpscope import __version__
from perpscope.core.errors import VenueError
from perpscope.venues.retry import RetryPolicy, Transient, retry_after_s

_RETRY_STATUS = frozenset({500, 502, 503, 504})
_RATE_STATUS = frozenset({418, 429})
#: What a geo-blocking 403 page says (CloudFront, which fronts Bybit and Binance: "configured to block
#: access from your country"; venues' own pages: "restricted location", "your region").
_GEO_BLOCK = re.compile(r"country|region|restricted location|jurisdiction", re.IGNORECASE)

Sleep = Callable[[float], Awaitable[None]]


class RegionBlocked(VenueError):
    """The venue refuses requests from this network's region: HTTP 451, or HTTP 403 whose page says the
    country or region is blocked (CloudFront's geo restriction answers 403)."""


class RateLimited(VenueError):
    """The venue asked us to wait longer than we are willing to (a long IP ban, HTTP 418)."""


class TokenBucket:
    """An async token bucket: ``capacity`` tokens, refilled at ``capacity / period_s`` per second.

    Parameters
    ----------
    capacity : float
        Tokens (request weight) available at once, e.g. 2,400 for Binance USDⓈ-M per minute.
    period_s : float
        Seconds to refill the whole capacity.
    clock : callable
        Monotonic seconds (injectable for tests).
    """

    def __init__(
        self, capacity: float, period_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if capacity <= 0 or period_s <= 0:
            raise ValueError("a token bucket needs a positive capacity and period")
        self.capacity = float(capacity)
        self.rate = self.capacity / period_s
        self._tokens = self.capacity
        self._clock = clock
        self._last = clock()
        self._lock = asyncio.Lock()
        self.waited_s = 0.0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now

    async def acquire(self, tokens: float = 1.0) -> None:
        """Wait until ``tokens`` are available, then spend them (requests are served in order)."""
        tokens = min(float(tokens), self.capacity)
        async with self._lock:
            while True:
                self._refill()
                if self._tokens >= tokens:
                    self._tokens -= tokens
                    return
                wait = (tokens - self._tokens) / self.rate
                self.waited_s += wait
                await asyncio.sleep(wait)

    def drain(self) -> None:
        """Spend every token (after a 429: the venue says our budget is gone)."""
        self._refill()
        self._tokens = 0.0


K = TypeVar("K")
V = TypeVar("V")


class OncePerKey(Generic[K, V]):
    """Reference values a client fetches once per key for its life (a symbol's funding interval, ...);
    concurrent first callers of a key share one request."""

    def __init__(self) -> None:
        self._values: dict[K, V] = {}
        self._lock = asyncio.Lock()

    async def get(self, key: K, fetch: Callable[[], Awaitable[V]]) -> V:
        """The value of ``key``, from ``fetch()`` the first time."""
        async with self._lock:
            if key not in self._values:
                self._values[key] = await fetch()
            return self._values[key]


@dataclass
class HttpStats:
    """Counters of one client: requests, retries by cause, seconds waited on Retry-After."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    retry_after_s: float = 0.0


@dataclass
class JsonClient:
    """GET/POST JSON to one venue with a rate budget and bounded, polite retries (see module docstring).

    Parameters
    ----------
    base_url : str
        Venue root, e.g. ``https://fapi.binance.com`` (tests: a loopback server).
    venue : str
        Name used in error messages.
    bucket : TokenBucket
        The venue's rate budget, shared by every request of this client.
    retries : int
        Attempts per request for transient failures (:class:`~perpscope.venues.retry.RetryPolicy`).
    backoff_s : float
        First retry delay when the venue sent no ``Retry-After`` (doubled per attempt, ±50% jitter,
        capped at 30 s).
    max_retry_after_s : float
        Longest ``Retry-After`` honoured by waiting; a longer one raises :class:`RateLimited`.
    archive_hint : str
        What to tell a user whose region is blocked.
    """

    base_url: str
    venue: str
    bucket: TokenBucket
    retries: int = 5
    backoff_s: float = 0.5
    timeout_s: float = 30.0
    max_retry_after_s: float = 120.0
    archive_hint: str = ""
    sleep: Sleep = asyncio.sleep
    client: httpx.AsyncClient | None = None
    stats: HttpStats = field(default_factory=HttpStats)

    def __post_init__(self) -> None:
        self._own = self.client is None
        if self.client is None:
            self.client = httpx.AsyncClient(
                timeout=self.timeout_s, headers={"User-Agent": f"perpscope/{__version__}"}
            )

    async def aclose(self) -> None:
        if self._own and self.client is not None:
            await self.client.aclose()

    async def get(self, path: str, params: Mapping[str, Any] | None = None, weight: float = 1.0) -> Any:
        """GET ``base_url + path`` with query ``params`` and decode JSON.

        Raises
        ------
        RegionBlocked
            HTTP 451, or 403 with a geo-blocking page (never retried).
        RateLimited
            A ``Retry-After`` longer than ``max_retry_after_s``.
        VenueError
            Other 4xx (with the venue's message), or a transient failure that outlived the retries.
        """
        return await self._request("GET", path, weight, params=dict(params or {}))

    async def post(self, path: str, body: Any = None, weight: float = 1.0) -> Any:
        """POST ``body`` as JSON to ``base_url + path`` and decode the JSON answer.

        Same rate budget, retries, ``Retry-After`` handling and errors as :meth:`get` (e.g. Hyperliquid's
        ``/info``, which takes its request as a JSON body).

        Raises
        ------
        RegionBlocked, RateLimited, VenueError
            As for :meth:`get`.
        """
        return await self._request("POST", path, weight, json=body)

    async def _request(self, method: str, path: str, weight: float, **send: Any) -> Any:
        """One logical request under the venues' one retry policy (:mod:`perpscope.venues.retry`);
        ``send`` goes to ``httpx.request``."""
        url = self.base_url.rstrip("/") + path
        policy = RetryPolicy(self.retries, self.backoff_s)

        def counted(failure: Transient, wait_s: float) -> None:
            self.stats.retries += 1

        try:
            return await policy.acall(
                lambda: self._attempt(method, url, weight, send), sleep=self.sleep, on_retry=counted
            )
        except Transient as last:
            raise VenueError(
                f"{self.venue}: {url}: {last.reason} after {policy.attempts} attempts; "
                "the venue may be busy, try again later"
            ) from None

    async def _attempt(self, method: str, url: str, weight: float, send: dict[str, Any]) -> Any:
        """One HTTP exchange: the decoded answer, :class:`Transient` to retry, or a final error."""
        assert self.client is not None
        await self.bucket.acquire(weight)
        self.stats.requests += 1
        try:
            resp = await self.client.request(method, url, **send)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise Transient(f"{type(exc).__name__}: {exc}") from exc
        status = resp.status_code
        if status == 200:
            try:
                return json.loads(resp.content)
            except ValueError:
                raise Transient(f"the answer is not JSON: {resp.text[:120]!r}") from None
        if status == 451 or (status == 403 and _GEO_BLOCK.search(resp.text)):
            raise RegionBlocked(
                f"{self.venue}: {url} answered HTTP {status} — the venue refuses requests from this "
                f"network's region. Nothing will be retried. {self.archive_hint}".strip()
            )
        if status in _RATE_STATUS:
            wait = retry_after_s(resp.headers.get("Retry-After"))
            self.stats.rate_limited += 1
            self.bucket.drain()
            if wait is not None and wait > self.max_retry_after_s:
                raise RateLimited(
                    f"{self.venue}: HTTP {status} with Retry-After {wait:.0f} s "
                    f"(longer than {self.max_retry_after_s:.0f} s we wait); "
                    "lower the request rate and try again after that time"
                )
            self.stats.retry_after_s += wait or 0.0
            raise Transient(f"HTTP {status} (rate limited)", retry_after=wait)
        if status in _RETRY_STATUS:
            raise Transient(f"HTTP {status}")
        raise VenueError(f"{self.venue}: {url} answered HTTP {status}: {_venue_message(resp)}")


def _venue_message(resp: httpx.Response) -> str:
    try:
        body = json.loads(resp.content)
    except ValueError:
        return resp.text[:200]
    if isinstance(body, dict):
        msg = body.get("msg") or body.get("retMsg") or body.get("message") or body.get("error")
        code = body.get("code") or body.get("retCode")
        if msg:
            return f"{msg} (code {code})" if code is not None else str(msg)
    return resp.text[:200]
