"""The venues' one retry policy (``perpscope.venues.retry``): bounded attempts, jittered exponential
backoff capped at 30 s, the venue's Retry-After taken as given, anything not transient raised at once."""

from __future__ import annotations

import asyncio

import pytest

from perpscope.venues.retry import MAX_DELAY_S, RetryPolicy, Transient, retry_after_s


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    p = RetryPolicy(attempts=10, backoff_s=0.5)
    for n in range(1, 10):
        base = min(0.5 * 2 ** (n - 1), MAX_DELAY_S)
        got = [p.delay(n) for _ in range(200)]
        assert all(0.5 * base <= d <= 1.5 * base for d in got)
        assert max(got) - min(got) > 0.1 * base  # jittered, not one fixed value
    assert p.delay(3, retry_after=7.0) == 7.0  # the venue's word, as given


def test_sync_calls_stop_after_the_attempts_and_reraise_the_last_failure() -> None:
    calls: list[int] = []
    slept: list[float] = []
    retried: list[tuple[str, float]] = []

    def flaky() -> str:
        calls.append(1)
        raise Transient(f"HTTP 503 #{len(calls)}", retry_after=2.0 if len(calls) == 1 else None)

    with pytest.raises(Transient, match="HTTP 503 #3"):
        RetryPolicy(3, 0.1).call(
            flaky, sleep=slept.append, on_retry=lambda f, s: retried.append((f.reason, s))
        )
    assert len(calls) == 3 and slept[0] == 2.0 and len(slept) == 2
    assert [r for r, _ in retried] == ["HTTP 503 #1", "HTTP 503 #2"]


def test_async_calls_retry_then_succeed_and_other_errors_pass_at_once() -> None:
    answers = iter([Transient("timeout"), "ok"])
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    async def once() -> str:
        a = next(answers)
        if isinstance(a, Exception):
            raise a
        return a

    async def broken() -> str:
        raise KeyError("not transient")

    assert asyncio.run(RetryPolicy(3, 0.1).acall(once, sleep=sleep)) == "ok" and len(slept) == 1
    with pytest.raises(KeyError):
        asyncio.run(RetryPolicy(3, 0.1).acall(broken, sleep=sleep))
    assert len(slept) == 1  # no wait for a failure that is not transient


def test_retry_after_header_in_seconds() -> None:
    assert (retry_after_s("3"), retry_after_s("0.5"), retry_after_s(None), retry_after_s("soon")) == (
        3.0,
        0.5,
        None,
        None,
    )
