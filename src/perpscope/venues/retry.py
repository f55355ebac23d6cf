"""The one retry policy of every venue request (REST clients and the archive downloader), on ``tenacity``.

A request that fails in a way worth another try raises :class:`Transient` (a 5xx, a 418/429 with or
without ``Retry-After``, a timeout or broken connection, an unreadable answer); anything else propagates
at once. The policy then waits and tries again, a bounded number of times:

- the venue's ``Retry-After`` (seconds) when it sent one: it knows when our budget is back;
- otherwise ``backoff_s × 2^(n−1)`` before the n-th retry, with ±50% jitter (so clients that failed
  together do not retry together), capped at :data:`MAX_DELAY_S`.

After the last attempt the last :class:`Transient` is raised again; callers turn it into a
:class:`~perpscope.core.errors.VenueError` that names the request. The same policy object drives
synchronous code (:meth:`RetryPolicy.call`, the archive downloader's threads) and asynchronous code
(:meth:`RetryPolicy.acall`, :class:`~perpscope.venues.http.JsonClient`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

T = TypeVar("T")

#: Longest wait between two attempts when the venue did not say (a Retry-After is taken as given).
MAX_DELAY_S = 30.0


class Transient(Exception):
    """A failure worth another attempt; ``retry_after`` is the venue's ``Retry-After`` in seconds, if any."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def retry_after_s(value: str | None) -> float | None:
    """An HTTP ``Retry-After`` header in seconds (None when absent or not a number of seconds)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long apart a transient failure is retried (see the module docstring).

    Parameters
    ----------
    attempts : int
        Attempts in all (the first one included); at least 1.
    backoff_s : float
        Delay before the first retry when the venue gave no ``Retry-After``.
    """

    attempts: int = 5
    backoff_s: float = 0.5

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry)."""
        if retry_after is not None:
            return retry_after
        return min(self.backoff_s * 2 ** (retry - 1), MAX_DELAY_S) * random.uniform(0.5, 1.5)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        after = exc.retry_after if isinstance(exc, Transient) else None
        return self.delay(state.attempt_number, after)

    def _settings(self, on_retry: Callable[[Transient, float], None] | None) -> dict[str, Any]:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            if on_retry is not None and isinstance(exc, Transient) and state.next_action is not None:
                on_retry(exc, state.next_action.sleep)

        return {
            "stop": stop_after_attempt(max(1, self.attempts)),
            "wait": self._wait,
            "retry": retry_if_exception_type(Transient),
            "reraise": True,
            "before_sleep": before_sleep,
        }

    def call(
        self,
        fn: Callable[[], T],
        *,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[Transient, float], None] | None = None,
    ) -> T:
        """``fn()`` under the policy; raises the last :class:`Transient` when every attempt failed.

        ``on_retry(failure, seconds)`` is told of each retry before its wait (counters, logs).
        """
        return Retrying(sleep=sleep, **self._settings(on_retry))(fn)

    async def acall(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_retry: Callable[[Transient, float], None] | None = None,
    ) -> T:
        """``await fn()`` under the policy (see :meth:`call`)."""

        async def attempt() -> T:  # tenacity awaits only what is declared ``async def``
            return await fn()

        return await AsyncRetrying(sleep=sleep, **self._settings(on_retry))(attempt)
