"""Keeping webhook secrets out of every message and log line.

A webhook's URL is its credential: Slack's ``/services/T…/B…/<secret>``, Discord's
``/api/webhooks/<id>/<token>``, Telegram's ``/bot<TOKEN>/sendMessage``, and any query string or
``user:password@``. Messages show a target as its scheme and host only (:func:`redact_url`); text that
may quote a URL (an HTTP library's exception, a response body, a log record) goes through
:func:`redact`, which removes the configured URLs' secret parts and, for URLs it was not told about, the
well-known token shapes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

MASK = "***"

#: Token shapes recognised in any text: Telegram bot tokens, Slack and Discord webhook paths.
_PATTERNS = (
    re.compile(r"\d{5,}:[A-Za-z0-9_-]{20,}"),  # Telegram: <bot id>:<35 characters>
    re.compile(r"(?<=hooks\.slack\.com/)[^\s\"'<>]+"),
    re.compile(r"(?<=/api/webhooks/)[^\s\"'<>]+"),
)


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, with ``/***`` where a path or query was (no user info)."""
    try:
        u = urlsplit(url)
        host = u.hostname or ""
        port = f":{u.port}" if u.port else ""
    except ValueError:
        return MASK
    rest = f"/{MASK}" if (u.path.strip("/") or u.query or u.fragment) else ""
    return f"{u.scheme}://{host}{port}{rest}"


def secrets_of(url: str) -> list[str]:
    """The parts of ``url`` that must not be shown: everything after the host (whole, and each path
    segment or query value that looks like a token: 16 characters or more, or 6 or more with a digit),
    and any user info; longest first."""
    try:
        u = urlsplit(url)
    except ValueError:
        return [url]
    out = {url}
    tail = url.split(u.netloc, 1)[-1] if u.netloc else url
    if tail.strip("/"):
        out.add(tail)
    # a segment is secret-like if it is long or carries digits: tokens and ids, not "services" or
    # "sendMessage" (which would otherwise be masked wherever an error mentions them)
    parts = re.split(r"[/?&=#;]", tail)
    out |= {p for p in parts if len(p) >= 16 or (len(p) >= 6 and any(c.isdigit() for c in p))}
    if u.username or u.password:
        out.add(u.netloc.rsplit("@", 1)[0])
    return sorted(out, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every one of ``secrets`` (see :func:`secrets_of`) and every recognised token shape
    replaced by ``***``."""
    for s in secrets:
        if s:  # a whole URL keeps its host (what a reader needs to tell targets apart)
            text = text.replace(s, redact_url(s) if s.startswith(("http://", "https://")) else MASK)
    for p in _PATTERNS:
        text = p.sub(MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts ``secrets`` from each record's formatted message (e.g. httpx's
    ``HTTP Request: POST https://api.telegram.org/bot<TOKEN>/… "HTTP/1.1 200 OK"`` at INFO)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = None
        return True


#: The loggers of the HTTP client stack, which write request URLs.
HTTP_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2")


@contextmanager
def redacted_logs(secrets: Iterable[str], loggers: Iterable[str] = HTTP_LOGGERS) -> Iterator[None]:
    """While the block runs, every record of ``loggers`` is redacted of ``secrets``."""
    f = RedactingFilter(secrets)
    logs = [logging.getLogger(n) for n in loggers]
    for lg in logs:
        lg.addFilter(f)
    try:
        yield
    finally:
        for lg in logs:
            lg.removeFilter(f)
