"""The live collector's websocket client: picows (a Cython client) behind a small interface.

Why picows: at an exchange peak the collector reads hundreds of thousands of frames a second, and a
pure-Python websocket stack spent ~15 µs of Python per frame parsing the frame, queueing the message and
waking the reading task (profiled: more than the collector's own work). picows parses frames in C and
calls :meth:`_Listener.on_ws_frame` for each one straight from the event loop's ``data_received``: no
queue, no task switch per message.

:func:`open_socket` connects and returns a :class:`Socket`; text messages go to ``on_text`` as
``bytes``, in order (fragmented messages reassembled). It answers pings, pings an idle peer every
``ping_interval_s`` and drops the connection when the pong does not come within as long again. A refused
handshake raises :class:`HandshakeRefused` with the HTTP status and the ``Retry-After`` header; any other
failure to connect raises :class:`ConnectError` (or ``OSError``/``TimeoutError`` from the network).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from picows import (
    WSCloseCode,
    WSError,
    WSFrame,
    WSInvalidStatusError,
    WSListener,
    WSMsgType,
    WSTransport,
    ws_connect,
)


class ConnectError(OSError):
    """The websocket could not be opened or broke the protocol (the collector reconnects)."""


class HandshakeRefused(ConnectError):
    """The server answered the upgrade with an HTTP status other than 101.

    Attributes
    ----------
    status : int
        The HTTP status (429 rate limited, 418 banned, 451 region blocked, 503 unavailable, ...).
    retry_after : str or None
        The ``Retry-After`` header as sent, if any.
    """

    def __init__(self, status: int, retry_after: str | None) -> None:
        super().__init__(f"handshake refused: HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class _Listener(WSListener):
    def __init__(self, on_text: Callable[[bytes], None]) -> None:
        self.on_text = on_text
        self._parts: list[bytes] = []  # a fragmented message until its last frame

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind == WSMsgType.TEXT or kind == WSMsgType.BINARY:
            if frame.fin:
                self.on_text(frame.get_payload_as_bytes())
            else:
                self._parts = [frame.get_payload_as_bytes()]
        elif kind == WSMsgType.CONTINUATION:
            self._parts.append(frame.get_payload_as_bytes())
            if frame.fin:
                whole, self._parts = b"".join(self._parts), []
                self.on_text(whole)
        elif kind == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()


class Socket:
    """An open websocket (see the module docstring)."""

    def __init__(self, transport: WSTransport) -> None:
        self._transport = transport

    async def send(self, text: str) -> None:
        """Send one text message (subscriptions, application pings)."""
        if self._transport.is_disconnected:
            raise ConnectError("the websocket is closed")
        self._transport.send(WSMsgType.TEXT, text.encode())

    async def close(self) -> None:
        """Close the connection (a normal closure); :meth:`wait_closed` then returns."""
        if not self._transport.is_disconnected:
            self._transport.send_close(WSCloseCode.OK)
            self._transport.disconnect()

    async def wait_closed(self) -> None:
        await self._transport.wait_disconnected()


async def open_socket(
    url: str,
    on_text: Callable[[bytes], None],
    *,
    open_timeout_s: float,
    ping_interval_s: float | None,
    max_size: int,
) -> Socket:
    """Connect to ``url``; every text message received goes to ``on_text``."""
    ping: dict[str, Any] = {}
    if ping_interval_s:
        ping = {
            "enable_auto_ping": True,
            "auto_ping_idle_timeout": ping_interval_s,
            "auto_ping_reply_timeout": ping_interval_s,
        }
    try:
        transport, _ = await asyncio.wait_for(
            ws_connect(
                lambda: _Listener(on_text),
                url,
                websocket_handshake_timeout=open_timeout_s,
                max_frame_size=max_size,
                max_redirects=0,
                **ping,
            ),
            open_timeout_s,
        )
    except WSInvalidStatusError as exc:
        resp = exc.response
        if resp is None:
            raise ConnectError(str(exc)) from exc
        raise HandshakeRefused(int(resp.status), resp.headers.get("Retry-After")) from exc
    except WSError as exc:
        raise ConnectError(f"{type(exc).__name__}: {exc}") from exc
    return Socket(transport)
