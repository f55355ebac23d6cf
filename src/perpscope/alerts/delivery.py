"""Delivering alerts: the console, and webhooks in Slack-, Discord- and Telegram-compatible JSON, through
the persisted outbox (:mod:`perpscope.alerts.outbox`) with retries and backoff per target.

Payloads (each service's documented minimal message):

- Slack incoming webhook: ``{"text": "..."}``
- Discord webhook: ``{"content": "..."}`` (at most 2,000 characters)
- Telegram Bot API ``sendMessage``: ``{"chat_id": "...", "text": "..."}`` (URL
  ``https://api.telegram.org/bot<TOKEN>/sendMessage``)
- ``json``: the alert's fields as an object

How a pass delivers (:func:`deliver_due`): every target at once (one task per target), so a slow target
delays no other; within a target, its owed alerts in order. Each attempt has a total deadline
(``deadline_s``: connecting, sending and the whole answer — a target that answers a byte at a time
cannot hold it longer). A target that fails (no answer in time, a connection error, HTTP 5xx, 408, 425
or 429) is tried again after an exponential backoff (``backoff_s`` doubled per attempt up to
``backoff_max_s``; a 429/503's ``Retry-After`` when longer), until ``attempts``; then, or at once for
any other 4xx (the target refuses this alert: retrying cannot help), the delivery is marked failed and
reported. Its later alerts wait for the next pass, so they keep their order and a down target costs one
deadline per pass, not one per alert. Every message is redacted of the targets' secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import httpx

from perpscope.alerts.config import DeliverySettings, Webhook
from perpscope.alerts.outbox import Delivery, Outbox
from perpscope.alerts.redact import redact, redacted_logs, secrets_of
from perpscope.alerts.rules import Alert

#: Answers worth trying again: the target is busy or down, not refusing this alert.
RETRYABLE_STATUS = frozenset({408, 425, 429})


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


def _payload_to(hook: Webhook, alert: Alert) -> dict[str, Any]:
    return payload(alert, hook)


def target_id(hook: Webhook) -> str:
    """A webhook's identity in the outbox: a hash of its URL, format and chat (the URL is a secret)."""
    raw = f"{hook.format}\n{hook.url}\n{hook.chat_id or ''}".encode()
    return hashlib.sha256(raw).hexdigest()[:20]


def backoff_s(attempt: int, settings: DeliverySettings) -> float:
    """Wait after failed attempt number ``attempt`` (1-based): ``backoff_s × 2^(attempt−1)``, at most
    ``backoff_max_s``."""
    return float(min(settings.backoff_max_s, settings.backoff_s * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery attempt: ``state`` is ``sent``, ``retry`` (again at ``due_s``) or
    ``failed`` (given up); ``error`` redacted; ``elapsed_s`` the attempt's duration; ``wait_s`` the
    backoff before the next attempt."""

    alert_key: str
    where: str
    state: str
    attempts: int
    error: str = ""
    due_s: float | None = None
    elapsed_s: float = 0.0
    wait_s: float = 0.0

    def line(self) -> str:
        """A one-line report for the console (standard error)."""
        if self.state == "sent":
            return f"delivered {self.alert_key} to {self.where} (attempt {self.attempts})"
        if self.state == "retry":
            return (
                f"{self.where}: attempt {self.attempts} failed ({self.error}); "
                f"trying again in {self.wait_s:.3g} s"
            )
        return f"{self.where}: gave up on {self.alert_key} after {self.attempts} attempt(s): {self.error}"


class Targets:
    """The configured webhooks by outbox identity, and the secrets to redact from what they say."""

    def __init__(self, hooks: Iterable[Webhook]) -> None:
        self.by_id = {target_id(h): h for h in hooks}
        self.where = {t: f"webhook #{i + 1} ({h.where})" for i, (t, h) in enumerate(self.by_id.items())}
        self.secrets = sorted({s for h in self.by_id.values() for s in secrets_of(h.url)}, key=len)[::-1]

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def bodies(self) -> dict[str, Callable[[Alert], dict[str, Any]]]:
        """Per target, the function of an alert that gives its body (what :meth:`Outbox.admit` queues)."""
        return {t: partial(_payload_to, h) for t, h in self.by_id.items()}


async def _attempt(
    client: httpx.AsyncClient, hook: Webhook, d: Delivery, deadline_s: float
) -> tuple[bool, bool, str, float | None]:
    """POST ``d`` to ``hook`` within ``deadline_s`` in total: (accepted, worth retrying, error text,
    Retry-After seconds)."""
    try:
        async with asyncio.timeout(deadline_s):
            r = await client.post(
                hook.url,
                content=d.body.encode(),
                headers={"Content-Type": "application/json", "Idempotency-Key": d.alert_key},
            )
    except TimeoutError:
        return False, True, f"no complete answer within {deadline_s:g} s", None
    except httpx.HTTPError as e:
        return False, True, f"{type(e).__name__}: {e}", None
    if r.status_code < 300:
        return True, False, "", None
    retry_after = None
    with contextlib.suppress(ValueError):  # seconds; the HTTP-date form is rare for webhooks: backoff
        retry_after = float(r.headers.get("Retry-After", ""))
    retry = r.status_code >= 500 or r.status_code in RETRYABLE_STATUS
    return False, retry, f"HTTP {r.status_code}: {r.text[:200]}", retry_after


async def _target_pass(
    client: httpx.AsyncClient,
    outbox: Outbox,
    targets: Targets,
    target: str,
    settings: DeliverySettings,
) -> list[Outcome]:
    hook, where, out = targets.by_id[target], targets.where[target], []
    for d in outbox.due(target, time.time()):
        t0 = time.monotonic()
        ok, again, error, retry_after = await _attempt(client, hook, d, settings.deadline_s)
        now, n, elapsed = time.time(), d.attempts + 1, time.monotonic() - t0
        error = targets.redact(error)
        if ok:
            outbox.sent(d, now)
            out.append(Outcome(d.alert_key, where, "sent", n, elapsed_s=elapsed))
            continue
        if again and n < settings.attempts:
            wait = max(backoff_s(n, settings), min(retry_after or 0.0, settings.backoff_max_s))
            outbox.retry(d, error, now + wait)
            out.append(Outcome(d.alert_key, where, "retry", n, error, now + wait, elapsed, wait))
            break  # the target is unwell: its later alerts wait (in order) for the next pass
        outbox.failed(d, error, now)
        out.append(Outcome(d.alert_key, where, "failed", n, error, elapsed_s=elapsed))
    return out


async def _pass(outbox: Outbox, targets: Targets, settings: DeliverySettings) -> list[Outcome]:
    # one client for the pass; its own timeouts are a backstop, the total deadline is asyncio's
    limits = httpx.Timeout(settings.deadline_s)
    async with httpx.AsyncClient(timeout=limits) as client:
        done = await asyncio.gather(
            *(_target_pass(client, outbox, targets, t, settings) for t in targets.by_id)
        )
    return [o for per_target in done for o in per_target]


def deliver_due(outbox: Outbox, targets: Targets, settings: DeliverySettings) -> list[Outcome]:
    """One delivery pass: every owed delivery that is due, to all targets concurrently (see the module
    docstring). Takes at most about one ``deadline_s`` per target's first failure; returns what
    happened, redacted."""
    if not targets.by_id:
        return []
    with redacted_logs(targets.secrets):
        return asyncio.run(_pass(outbox, targets, settings))


def drain(
    outbox: Outbox,
    targets: Targets,
    settings: DeliverySettings,
    wait_s: float,
    report: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Deliver passes until nothing is owed to the configured targets or ``wait_s`` seconds have gone
    (what remains stays in the outbox for the next run). ``report`` gets each outcome as it comes."""
    stop, out = time.monotonic() + wait_s, []
    while True:
        for o in deliver_due(outbox, targets, settings):
            out.append(o)
            if report is not None:
                report(o)
        nxt = outbox.next_due(targets.by_id)
        if nxt is None:
            return out
        pause = nxt - time.time()
        if time.monotonic() + max(pause, 0.0) >= stop:
            return out
        time.sleep(max(0.0, pause))


def send(
    alerts: list[Alert],
    hooks: tuple[Webhook, ...] | list[Webhook],
    *,
    console: Callable[[str], None] | None = print,
    settings: DeliverySettings | None = None,
    wait_s: float = 60.0,
) -> list[str]:
    """Print each alert and deliver it to every webhook now, with retries, without a persisted state
    (``perpscope alerts test``; ``alerts run`` keeps an outbox file). Returns one redacted line per
    delivery not made within ``wait_s`` (never raises for one failed webhook: the others still get the
    alert)."""
    settings = settings or DeliverySettings()
    targets = Targets(hooks)
    with Outbox(":memory:") as ob:
        admitted = ob.admit(((a, 0) for a in alerts), targets.bodies(), time.time())
        if console is not None:
            for a in admitted:
                console(message(a))
        last: dict[tuple[str, str], Outcome] = {}
        for o in drain(ob, targets, settings, wait_s):
            last[(o.alert_key, o.where)] = o
    return [
        o.line()
        if o.state == "failed"
        else f"{o.where}: not delivered in {wait_s:g} s ({o.attempts} attempt(s)): {o.error}"
        for o in last.values()
        if o.state != "sent"
    ]
