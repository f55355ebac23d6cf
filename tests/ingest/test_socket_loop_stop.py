"""The socket loop returns on ``stop`` even when its socket never closes: a venue holding the connection
open, after a cancellation the websocket client absorbed while connecting (seen as a collector whose stop
timed out in a loaded test run)."""

from __future__ import annotations

import asyncio

from perpscope.ingest.socket_loop import _closed_or_stopped


class _HeldOpen:
    """A socket the far side never closes."""

    def __init__(self) -> None:
        self.waits = 0

    async def wait_closed(self) -> None:
        self.waits += 1
        await asyncio.Event().wait()


def test_stop_ends_the_wait_on_a_socket_that_never_closes() -> None:
    async def go() -> int:
        ws, stop = _HeldOpen(), asyncio.Event()
        waiter = asyncio.create_task(_closed_or_stopped(ws, stop))
        await asyncio.sleep(0.05)
        assert not waiter.done()  # still waiting: neither closed nor stopped
        stop.set()
        await asyncio.wait_for(waiter, 2)
        return ws.waits

    assert asyncio.run(go()) == 1


def test_a_closed_socket_ends_the_wait_without_stop() -> None:
    class Closed:
        async def wait_closed(self) -> None:
            return None

    async def go() -> bool:
        stop = asyncio.Event()
        await asyncio.wait_for(_closed_or_stopped(Closed(), stop), 2)
        return stop.is_set()

    assert asyncio.run(go()) is False
