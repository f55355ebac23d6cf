"""perpscope.alerts — rules over live metrics (funding extreme or zero-crossing, OI drop in coins,
liquidation burst, regime change, price entering a hot zone) with cooldown and de-duplication, delivered
to the console and to webhooks through a persisted outbox with retries. Config and formats:
``docs/alerts.md``."""

from perpscope.alerts.config import (
    KINDS,
    AlertsConfig,
    DeliverySettings,
    Rule,
    Webhook,
    load_config,
    parse_config,
)
from perpscope.alerts.delivery import Outcome, Targets, deliver_due, drain, message, payload, send
from perpscope.alerts.outbox import Outbox, OutboxBusy
from perpscope.alerts.redact import redact, redact_url
from perpscope.alerts.rules import RULES, Alert, evaluate

__all__ = [
    "KINDS",
    "RULES",
    "Alert",
    "AlertsConfig",
    "DeliverySettings",
    "Outbox",
    "OutboxBusy",
    "Outcome",
    "Rule",
    "Targets",
    "Webhook",
    "deliver_due",
    "drain",
    "evaluate",
    "load_config",
    "message",
    "parse_config",
    "payload",
    "redact",
    "redact_url",
    "send",
]
