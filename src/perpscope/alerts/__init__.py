"""perpscope.alerts — rules over live metrics (funding extreme or zero-crossing, OI drop, liquidation
burst, regime change, price entering a hot zone) with cooldown and de-duplication, delivered to the
console and to webhooks. Config and formats: ``docs/alerts.md``."""

from perpscope.alerts.config import KINDS, AlertsConfig, Rule, Webhook, load_config, parse_config
from perpscope.alerts.delivery import message, payload, send
from perpscope.alerts.rules import Alert, AlertState, evaluate

__all__ = [
    "KINDS",
    "Alert",
    "AlertState",
    "AlertsConfig",
    "Rule",
    "Webhook",
    "evaluate",
    "load_config",
    "message",
    "parse_config",
    "payload",
    "send",
]
