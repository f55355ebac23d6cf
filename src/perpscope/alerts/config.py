"""Alert rules and delivery targets, read from a TOML file (``docs/alerts.md`` has a full example).

.. code-block:: toml

    poll_seconds = 60

    [[rule]]
    name = "btc funding extreme"
    # kind: funding_extreme | funding_cross | oi_drop | liq_burst | regime_change | hot_zone
    kind = "funding_extreme"
    venue = "binance"
    symbol = "BTC-USDT-PERP"
    z = 3.0                        # kind-specific parameters
    cooldown = "4h"

    [[webhook]]
    url = "https://hooks.slack.com/services/…"
    format = "slack"               # slack | discord | telegram | json
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from perpscope.core.errors import InputError
from perpscope.core.time import HOUR_MS, interval_ms

#: Rule kinds and their parameters with defaults.
KINDS: dict[str, dict[str, Any]] = {
    "funding_extreme": {"z": 3.0, "apr": None},
    "funding_cross": {},
    "oi_drop": {"window": "4h", "pct": 5.0},
    "liq_burst": {"usd": None},
    "regime_change": {},
    "hot_zone": {"zones": 5, "width": 0.5},
}
FORMATS = ("slack", "discord", "telegram", "json")


@dataclass(frozen=True)
class Rule:
    """One alert rule over one venue and symbol.

    Attributes
    ----------
    name : str
        Shown in every alert (and the de-duplication key's first part).
    kind : str
        One of :data:`KINDS`.
    venue, symbol : str
        The series watched (symbol canonical or the venue's spelling).
    params : dict
        Kind-specific parameters (defaults in :data:`KINDS`): ``z`` (|funding z-score| at least),
        ``apr`` (|annualized funding| at least, in %), ``window``/``pct`` (OI fall of at least pct % over
        the window), ``usd`` (liquidations in a bar at least, else the panel's burst flag), ``zones``/
        ``width`` (hot zones per side and their width, % of price).
    cooldown_ms : int
        No second alert from this rule within this time of the last (event time).
    """

    name: str
    kind: str
    venue: str
    symbol: str
    params: dict[str, Any] = field(default_factory=dict)
    cooldown_ms: int = 4 * HOUR_MS

    def param(self, key: str) -> Any:
        return self.params.get(key, KINDS[self.kind].get(key))


@dataclass(frozen=True)
class Webhook:
    """A delivery target: ``url`` and the JSON ``format`` it expects (``chat_id`` for Telegram)."""

    url: str
    format: str = "json"
    chat_id: str | None = None


@dataclass(frozen=True)
class AlertsConfig:
    """Rules, webhooks and the polling period (seconds) of ``perpscope alerts run``."""

    rules: tuple[Rule, ...] = ()
    webhooks: tuple[Webhook, ...] = ()
    poll_seconds: float = 60.0


def _rule(path: str, i: int, d: dict[str, Any]) -> Rule:
    where = f"rule #{i + 1}"
    kind = d.get("kind")
    if kind not in KINDS:
        raise InputError(path, f"{where}: kind must be one of {', '.join(KINDS)}; got {kind!r}")
    for key in ("venue", "symbol"):
        if not isinstance(d.get(key), str) or not d[key]:
            raise InputError(path, f"{where}: '{key}' (text) is required", hint='e.g. venue = "binance"')
    known = {"name", "kind", "venue", "symbol", "cooldown", *KINDS[kind]}
    extra = sorted(set(d) - known)
    if extra:
        raise InputError(path, f"{where} ({kind}): unknown keys {extra}; allowed: {sorted(known)}")
    try:
        cooldown = interval_ms(str(d.get("cooldown", "4h")))
        if "window" in d:
            interval_ms(str(d["window"]))
    except ValueError as e:
        raise InputError(path, f"{where}: {e}") from None
    params = {k: v for k, v in d.items() if k in KINDS[kind]}
    name = str(d.get("name") or f"{kind} {d['venue']} {d['symbol']}")
    return Rule(name, kind, d["venue"], d["symbol"], params, cooldown)


def parse_config(text: str, path: str = "<config>") -> AlertsConfig:
    """Parse the TOML text of an alerts config (raises :class:`InputError` saying what is wrong)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(path, f"not valid TOML: {e}") from None
    rules = tuple(_rule(path, i, d) for i, d in enumerate(raw.get("rule", [])))
    hooks = []
    for i, h in enumerate(raw.get("webhook", [])):
        fmt = h.get("format", "json")
        if fmt not in FORMATS:
            raise InputError(
                path, f"webhook #{i + 1}: format must be one of {', '.join(FORMATS)}; got {fmt!r}"
            )
        url = h.get("url", "")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InputError(path, f"webhook #{i + 1}: url must start with http:// or https://; got {url!r}")
        if fmt == "telegram" and not h.get("chat_id"):
            raise InputError(path, f"webhook #{i + 1}: a telegram webhook needs chat_id")
        hooks.append(Webhook(url, fmt, str(h["chat_id"]) if h.get("chat_id") else None))
    return AlertsConfig(rules, tuple(hooks), float(raw.get("poll_seconds", 60)))


def load_config(path: Path) -> AlertsConfig:
    """Read and parse an alerts config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(str(path), f"cannot read the alerts config: {e.strerror}") from None
    return parse_config(text, str(path))
