"""Shared JSON client: POST follows the same budget, retry and error rules as GET."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest

from perpscope.core.errors import VenueError
from perpscope.venues.http import JsonClient, RateLimited, RegionBlocked, TokenBucket

Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler, slept: list[float], retries: int = 3) -> JsonClient:
    async def sleep(s: float) -> None:
        slept.append(s)

    return JsonClient(
        "http://venue.test",
        "test",
        TokenBucket(100.0, 1.0),
        retries=retries,
        backoff_s=0.01,
        max_retry_after_s=5.0,
        sleep=sleep,
        client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )


def _run(c: JsonClient, path: str, body: object) -> object:
    async def go() -> object:
        try:
            return await c.post(path, body, weight=20)
        finally:
            assert c.client is not None
            await c.client.aclose()

    return asyncio.run(go())


def test_post_sends_the_body_as_json_and_decodes_the_answer() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json=[{"coin": "ETH"}])

    assert _run(_client(handler, []), "/info", {"type": "fundingHistory", "coin": "ETH"}) == [{"coin": "ETH"}]
    (req,) = seen
    assert (req.method, req.url.path, req.headers["content-type"]) == ("POST", "/info", "application/json")
    assert json.loads(req.content) == {"type": "fundingHistory", "coin": "ETH"}


def test_post_honours_retry_after_then_retries_5xx_then_succeeds() -> None:
    answers = iter(
        [httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(503), httpx.Response(200, json=1)]
    )
    slept: list[float] = []
    c = _client(lambda req: next(answers), slept)
    assert _run(c, "/info", {"type": "meta"}) == 1
    assert slept[0] == 2.0  # the venue's Retry-After, in seconds
    assert (c.stats.requests, c.stats.retries, c.stats.rate_limited) == (3, 2, 1)


def test_post_errors_match_get() -> None:
    with pytest.raises(RegionBlocked, match="HTTP 451"):
        _run(_client(lambda req: httpx.Response(451), []), "/info", {})
    with pytest.raises(RateLimited, match="Retry-After 60"):
        _run(_client(lambda req: httpx.Response(429, headers={"Retry-After": "60"}), []), "/info", {})
    bad = httpx.Response(422, json={"error": "Failed to deserialize the JSON body"})
    with pytest.raises(VenueError, match="HTTP 422: Failed to deserialize"):
        _run(_client(lambda req: bad, []), "/info", {"type": "nope"})
    with pytest.raises(VenueError, match="after 2 attempts"):
        _run(_client(lambda req: httpx.Response(502), [], retries=2), "/info", {})


def test_a_geo_blocking_403_is_region_blocked_and_other_403s_are_plain_errors() -> None:
    geo = httpx.Response(
        403,
        text="<H1>403 ERROR</H1> The Amazon CloudFront distribution is configured to block access from "
        "your country.",
    )
    slept: list[float] = []
    with pytest.raises(RegionBlocked, match="HTTP 403"):
        _run(_client(lambda req: geo, slept), "/info", {})
    assert slept == []  # never retried
    waf = httpx.Response(403, json={"code": -1, "msg": "Forbidden"})
    with pytest.raises(VenueError, match="HTTP 403: Forbidden") as err:
        _run(_client(lambda req: waf, []), "/info", {})
    assert not isinstance(err.value, RegionBlocked)
