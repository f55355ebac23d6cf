"""Alert rules, delivery targets and delivery settings, read from a TOML file and validated by pydantic
models (``docs/alerts.md`` has a full example).

.. code-block:: toml

    poll_seconds = 60
    state = "alerts-state.sqlite"  # the outbox and de-duplication state (default: beside this file)

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

    [delivery]                     # optional; the defaults shown
    attempts = 8                   # per alert and target, then it is reported as undeliverable
    deadline_s = 10.0              # total time one attempt may take (connect, send, answer)
    backoff_s = 2.0                # wait before the 2nd attempt; doubled each time …
    backoff_max_s = 300.0          # … up to this

Every value is type-checked (``z = "three"`` is refused); an error names the rule (its ``name``, else
its position) or the webhook, the field, what was expected and what was found — never a webhook's URL,
which holds its secret (:mod:`perpscope.alerts.redact`).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from perpscope.alerts.redact import redact_url
from perpscope.core.errors import InputError
from perpscope.core.time import HOUR_MS, interval_ms


def _interval(text: str) -> str:
    interval_ms(text)  # raises ValueError("expected an interval like 1m, …; got '…'")
    return text


def _finite(x: float) -> float:
    if not math.isfinite(x):
        raise ValueError("must be a finite number")
    return x


Interval = Annotated[str, AfterValidator(_interval)]
Number = Annotated[float, AfterValidator(_finite)]
Text = Annotated[str, Field(min_length=1)]
_STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


class _RuleModel(BaseModel):
    """What every rule takes: the series it watches and how long it stays quiet after an alert."""

    model_config = _STRICT
    name: Text | None = None
    venue: Text = Field(description="a venue scope: binance, binance,bybit,okx or all")
    symbol: Text = Field(description="canonical or the venue's spelling")
    cooldown: Interval = "4h"


class FundingExtreme(_RuleModel):
    """|funding z-score| at least ``z``, or |annualized funding| at least ``apr`` %."""

    kind: Literal["funding_extreme"]
    z: Annotated[Number, Field(ge=0)] | None = 3.0
    apr: Annotated[Number, Field(ge=0)] | None = None


class FundingCross(_RuleModel):
    """The last funding rate changed sign in this bar."""

    kind: Literal["funding_cross"]


class OiDrop(_RuleModel):
    """Open interest in coins down at least ``pct`` % over ``window``."""

    kind: Literal["oi_drop"]
    window: Interval = "4h"
    pct: Number = 5.0


class LiqBurst(_RuleModel):
    """Liquidations in the bar at least ``usd`` (USD), else the panel's burst flag."""

    kind: Literal["liq_burst"]
    usd: Annotated[Number, Field(gt=0)] | None = None


class RegimeChange(_RuleModel):
    """The last two regime labels differ."""

    kind: Literal["regime_change"]


class HotZone(_RuleModel):
    """The close is inside one of the ``zones`` hottest zones per side, each ``width`` % of price wide."""

    kind: Literal["hot_zone"]
    zones: Annotated[int, Field(ge=1)] = 5
    width: Annotated[Number, Field(gt=0)] = 0.5


RULE_MODELS: tuple[type[_RuleModel], ...] = (
    FundingExtreme,
    FundingCross,
    OiDrop,
    LiqBurst,
    RegimeChange,
    HotZone,
)
_COMMON = set(_RuleModel.model_fields)


def _kind_of(model: type[_RuleModel]) -> str:
    return str(model.model_fields["kind"].annotation.__args__[0])  # type: ignore[union-attr]


#: Rule kinds and their parameters with defaults (from the models above: one place).
KINDS: dict[str, dict[str, Any]] = {
    _kind_of(m): {k: f.default for k, f in m.model_fields.items() if k not in _COMMON | {"kind"}}
    for m in RULE_MODELS
}
_RULE = TypeAdapter(Annotated[FundingExtreme | FundingCross | OiDrop | LiqBurst | RegimeChange | HotZone,
                              Field(discriminator="kind")])  # fmt: skip
FORMATS = ("slack", "discord", "telegram", "json")


def _http_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return url


class WebhookModel(BaseModel):
    """A delivery target as written in the file (``chat_id``: Telegram's, text or a number)."""

    model_config = _STRICT
    url: Annotated[str, AfterValidator(_http_url)]
    format: Literal["slack", "discord", "telegram", "json"] = "json"
    chat_id: Text | int | None = None


class DeliverySettings(BaseModel):
    """How hard delivery tries: attempts per alert and target, each bounded by a total deadline (s), with
    an exponential backoff (s) between them."""

    model_config = _STRICT
    attempts: Annotated[int, Field(ge=1, le=100)] = 8
    deadline_s: Annotated[Number, Field(gt=0, le=300)] = 10.0
    backoff_s: Annotated[Number, Field(ge=0)] = 2.0
    backoff_max_s: Annotated[Number, Field(ge=0)] = 300.0


class _FileModel(BaseModel):
    model_config = _STRICT
    poll_seconds: Annotated[Number, Field(gt=0)] = 60.0
    state: Text | None = None
    rule: list[dict[str, Any]] = []
    webhook: list[dict[str, Any]] = []
    delivery: DeliverySettings = DeliverySettings()


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
        ``apr`` (|annualized funding| at least, in %), ``window``/``pct`` (open interest in coins down at
        least pct % over the window), ``usd`` (liquidations in a bar at least, else the panel's burst
        flag), ``zones``/``width`` (hot zones per side and their width, % of price).
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
    """A delivery target: ``url`` and the JSON ``format`` it expects (``chat_id`` for Telegram).

    The URL holds the target's secret (Slack's and Discord's webhook path, Telegram's bot token): it is
    left out of ``repr`` and shown only as :attr:`where`."""

    url: str = field(repr=False)
    format: str = "json"
    chat_id: str | None = None

    @property
    def where(self) -> str:
        """The target without its secret, for messages: ``slack https://hooks.slack.com/***``."""
        return f"{self.format} {redact_url(self.url)}"


@dataclass(frozen=True)
class AlertsConfig:
    """Rules, webhooks, delivery settings, the polling period (seconds) of ``perpscope alerts run`` and
    the state file (outbox and de-duplication; None: the caller's default)."""

    rules: tuple[Rule, ...] = ()
    webhooks: tuple[Webhook, ...] = ()
    poll_seconds: float = 60.0
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    state: Path | None = None


def _found(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _problems(e: ValidationError, where: str, secret: bool = False) -> str:
    """One line per problem: ``<where>: field 'pct': Input should be a valid number (found 'three')``
    (``secret``: the found value is not shown, as a webhook URL holds a token)."""
    lines = []
    for err in e.errors(include_url=False):
        loc = [str(p) for p in err["loc"] if not (isinstance(p, str) and p in KINDS)]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "union_tag_invalid":
            tag = (err.get("ctx") or {}).get("tag")
            lines.append(f"{where}: kind must be one of {', '.join(KINDS)}; found {_found(tag)}")
            continue
        if err["type"] == "union_tag_not_found":
            lines.append(f"{where}: field 'kind' is required (one of {', '.join(KINDS)})")
            continue
        if err["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown field {'.'.join(loc)!r}")
            continue
        shown = secret or err["type"] == "missing" or _found(err["input"]) in msg
        found = "" if shown else f" (found {_found(err['input'])})"
        lines.append(f"{where}: field {'.'.join(loc)!r}: {msg}{found}")
    return "; ".join(lines)


def _rule(path: str, i: int, d: Any) -> Rule:
    name = d.get("name") if isinstance(d, dict) else None
    where = f"rule #{i + 1}" + (f" {name!r}" if isinstance(name, str) else "")
    if isinstance(d, dict) and d.get("kind") in KINDS:
        where += f" ({d['kind']})"
    try:
        m = _RULE.validate_python(d)
    except ValidationError as e:
        kind = d.get("kind") if isinstance(d, dict) else None
        allowed = sorted({*_COMMON, "kind", *KINDS.get(kind, {})}) if kind in KINDS else None
        unknown = any(err["type"] == "extra_forbidden" for err in e.errors())
        hint = f"allowed fields: {', '.join(allowed)}" if allowed and unknown else None
        raise InputError(path, _problems(e, where), hint=hint) from None
    params = {k: getattr(m, k) for k in KINDS[m.kind] if k in m.model_fields_set}
    return Rule(
        m.name or f"{m.kind} {m.venue} {m.symbol}",
        m.kind,
        m.venue,
        m.symbol,
        params,
        interval_ms(m.cooldown),
    )


def _webhook(path: str, i: int, d: Any) -> Webhook:
    fmt = d.get("format", "json") if isinstance(d, dict) else "json"
    where = f"webhook #{i + 1} ({fmt})"
    try:
        m = WebhookModel.model_validate(d)
    except ValidationError as e:
        raise InputError(path, _problems(e, where, secret=True)) from None
    if m.format == "telegram" and m.chat_id is None:
        raise InputError(path, f"{where}: field 'chat_id' is required for a telegram webhook")
    return Webhook(m.url, m.format, None if m.chat_id is None else str(m.chat_id))


def parse_config(text: str, path: str = "<config>") -> AlertsConfig:
    """Parse and validate the TOML text of an alerts config (raises :class:`InputError` naming the rule
    or webhook and the field, and what was expected). A relative ``state`` is relative to ``path``'s
    folder."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(path, f"not valid TOML: {e}") from None
    try:
        top = _FileModel.model_validate(raw)
    except ValidationError as e:
        raise InputError(path, _problems(e, "config")) from None
    rules = tuple(_rule(path, i, d) for i, d in enumerate(top.rule))
    hooks = tuple(_webhook(path, i, d) for i, d in enumerate(top.webhook))
    state = None
    if top.state is not None:
        state = Path(top.state)
        if not state.is_absolute() and not path.startswith("<"):
            state = Path(path).parent / state
    return AlertsConfig(rules, hooks, top.poll_seconds, top.delivery, state)


def load_config(path: Path) -> AlertsConfig:
    """Read and parse an alerts config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(str(path), f"cannot read the alerts config: {e.strerror}") from None
    return parse_config(text, str(path))
