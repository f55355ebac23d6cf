"""Delivering alerts: the console, and webhooks in Slack-, Discord- and Telegram-compatible JSON.

Payloads (each service's documented minimal message):

- Slack incoming webhook: ``{"text": "..."}``
- Discord webhook: ``{"content": "..."}`` (at most 2,000 characters)
- Telegram Bot API ``sendMessage``: ``{"chat_id": "...", "text": "..."}`` (URL
  ``https://api.telegram.org/bot<TOKEN>/sendMessage``)
- ``json``: the alert's fields as an object
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import httpx

from perpscope.alerts.config import Webhook
from perpscope.alerts.rules import Alert


def message(alert: Alert) -> str:
    """One-line text of an alert: ``[venue symbol] title — text``."""
    return f"[{alert.venue} {alert.symbol}] {alert.title} — {alert.text}"


def payload(alert: Alert, hook: Webhook) -> dict[str, Any]:
    """The JSON body ``hook`` expects for ``alert``."""
    text = message(alert)
    if hook.format == "slack":
        return {"text": text}
    if hook.format == "discord":
        return {"content": text[:2000]}
    if hook.format == "telegram":
        return {"chat_id": hook.chat_id, "text": text}
    body = asdict(alert)
    body["key"] = alert.key
    body["message"] = text
    return body


def send(
    alerts: list[Alert],
    hooks: tuple[Webhook, ...] | list[Webhook],
    *,
    console: Callable[[str], None] | None = print,
    client: httpx.Client | None = None,
    timeout_s: float = 10.0,
) -> list[str]:
    """Print each alert and POST it to every webhook; returns the delivery errors (never raises for one
    failed webhook, so the others still get the alert)."""
    errors: list[str] = []
    own = client is None
    c = client or httpx.Client(timeout=timeout_s)
    try:
        for a in alerts:
            if console is not None:
                console(message(a))
            for h in hooks:
                try:
                    r = c.post(h.url, json=payload(a, h))
                    if r.status_code >= 300:
                        errors.append(f"{h.format} webhook answered HTTP {r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as e:
                    errors.append(f"{h.format} webhook {h.url.split('?')[0][:60]}…: {e}")
    finally:
        if own:
            c.close()
    return errors
