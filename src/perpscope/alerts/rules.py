"""Alert rules over the metrics panel (pure: frames in, alerts out): one small function per rule kind,
in the table :data:`RULES`. Which alerts are sent (cooldown, de-duplication) is the outbox's business
(:mod:`perpscope.alerts.outbox`).

Each rule looks at the newest bar of the panel (one venue and symbol, sorted by ``ts_ms``) and, for
``regime_change`` and ``hot_zone``, at the regime labels and hot zones computed from the same panel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from perpscope.alerts.config import Rule
from perpscope.core.format import pct_text, usd_text
from perpscope.core.time import interval_ms, ms_to_iso


@dataclass(frozen=True)
class Alert:
    """One alert: which rule fired, on which bar (``ts_ms``, open, ms UTC), and what it says.

    ``key`` identifies the event for de-duplication: the same rule firing on the same bar is one event.
    """

    rule: str
    kind: str
    venue: str
    symbol: str
    ts_ms: int
    title: str
    text: str
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.rule}|{self.venue}|{self.symbol}|{self.ts_ms}"


def _ms(df: pl.DataFrame, col: str = "ts_ms") -> list[int]:
    s = df.get_column(col)
    return (s.dt.epoch("ms") if isinstance(s.dtype, pl.Datetime) else s.cast(pl.Int64)).to_list()


def _last(panel: pl.DataFrame, col: str) -> Any:
    if col not in panel.columns or panel.is_empty():
        return None
    return panel.get_column(col)[-1]


#: Rate per 8h × 3 × 365: a sampled 8h rate annualized (simple), as ``funding_apr`` is for settlements.
_APR_PER_8H = 3 * 365


def _funding_column(panel: pl.DataFrame) -> str | None:
    """The panel's funding column a rule reads: the settled rate per interval (``funding_rate``), or,
    where the panel has none (sampled rates only, e.g. the OI-weighted rate of a scope of several
    venues), the sampled rate per 8h (``funding_sampled_8h``)."""
    for col in ("funding_rate", "funding_sampled_8h"):
        if col in panel.columns and panel.get_column(col).is_not_null().any():
            return col
    return None


def _alert(rule: Rule, ts: int, title: str, text: str, **values: Any) -> Alert:
    return Alert(
        rule.name, rule.kind, rule.venue, rule.symbol, ts, title, f"{text} (bar {ms_to_iso(ts)} UTC)", values
    )


@dataclass(frozen=True)
class Inputs:
    """What a rule looks at: the panel (one venue scope and symbol, sorted by time, newest bar last,
    ``ts_ms`` its open in ms UTC) and, for ``regime_change`` and ``hot_zone``, the regime labels and the
    current map's hot zones."""

    panel: pl.DataFrame
    ts_ms: int
    regimes: pl.DataFrame | None = None
    zones: pl.DataFrame | None = None


def _funding_extreme(rule: Rule, x: Inputs) -> Alert | None:
    col = _funding_column(x.panel)
    z, apr = _last(x.panel, "funding_z"), _last(x.panel, "funding_apr")
    per = "interval"
    if col == "funding_sampled_8h":  # sampled rates only (e.g. across venues): no settlement to score
        rate8 = _last(x.panel, col)
        apr = None if rate8 is None else rate8 * _APR_PER_8H
        per = "8h (sampled)"
    zt, at = rule.param("z"), rule.param("apr")
    hit_z = z is not None and zt is not None and abs(z) >= float(zt)
    hit_a = apr is not None and at is not None and abs(apr) * 100 >= float(at)
    if not (hit_z or hit_a):
        return None
    return _alert(
        rule,
        x.ts_ms,
        f"{rule.symbol}: funding extreme",
        f"funding {pct_text(_last(x.panel, col or 'funding_rate'), 4)} per {per}, "
        f"{pct_text(apr, 1)} APR, z = {z if z is None else round(z, 2)}",
        funding_z=z,
        funding_apr=apr,
    )


def _funding_cross(rule: Rule, x: Inputs) -> Alert | None:
    col = _funding_column(x.panel) or "funding_rate"
    if col not in x.panel.columns:
        return None
    r = x.panel.get_column(col).drop_nulls()
    if r.len() < 2 or (r[-1] > 0) == (r[-2] > 0) or r[-1] == 0 or r[-2] == 0:
        return None
    # only on the bar where the new settlement (or cross-venue rate) first shows
    now, before = _last(x.panel, col), x.panel.get_column(col)[-2]
    if now is None or before is None or now == before:
        return None
    direction = "positive" if r[-1] > 0 else "negative"
    per = "interval" if col == "funding_rate" else "8h (sampled)"
    return _alert(
        rule,
        x.ts_ms,
        f"{rule.symbol}: funding turned {direction}",
        f"funding {pct_text(r[-2], 4)} → {pct_text(r[-1], 4)} per {per}",
        previous=r[-2],
        rate=r[-1],
    )


#: Where ``oi_drop`` reads open interest in coins, in order: the panel's ``oi_base`` (the venues'
#: own coin figure), else ``oi_usd / close`` (the USD figure divided by the bar's close — the coins
#: it values, as venues compute the USD figure as coins × mark price).
OI_COIN_SOURCES = ("oi_base", "oi_usd / close")


def _coins(panel: pl.DataFrame, source: str) -> list[float | None] | None:
    if source == "oi_base":
        return panel.get_column("oi_base").to_list() if "oi_base" in panel.columns else None
    if "oi_usd" not in panel.columns or "close" not in panel.columns:
        return None
    usd, close = panel.get_column("oi_usd").to_list(), panel.get_column("close").to_list()
    return [None if u is None or not c else u / c for u, c in zip(usd, close, strict=True)]


def _oi_drop(rule: Rule, x: Inputs) -> Alert | None:
    """Open interest in coins, not USD: a 10 % price fall with the same positions open moves OI in USD
    by −10 % and OI in coins by nothing, and only the second is positions closing. The source is the
    first of :data:`OI_COIN_SOURCES` known both now and a window ago, and the alert names it."""
    window = str(rule.param("window"))
    w, t = interval_ms(window), _ms(x.panel)
    for source in OI_COIN_SOURCES:
        coins = _coins(x.panel, source)
        if coins is None or coins[-1] is None:
            continue
        past = [(i, c) for i, (tt, c) in enumerate(zip(t, coins, strict=True)) if tt <= x.ts_ms - w and c]
        if not past:
            continue
        i, before = past[-1]
        chg = coins[-1] / before - 1
        if chg > -float(rule.param("pct")) / 100:
            return None
        usd = x.panel.get_column("oi_usd").to_list() if "oi_usd" in x.panel.columns else [None] * len(t)
        usd_chg = usd[-1] / usd[i] - 1 if usd[-1] is not None and usd[i] else None
        return _alert(
            rule,
            x.ts_ms,
            f"{rule.symbol}: open interest {pct_text(chg, 1)} in coins over {window}",
            f"OI {before:,.0f} → {coins[-1]:,.0f} coins ({source}) over {window}; "
            f"in USD {usd_text(usd[i])} → {usd_text(usd[-1])} ({pct_text(usd_chg, 1)})",
            oi_change=chg,
            oi_coins_source=source,
            oi_usd_change=usd_chg,
        )
    return None


def _liq_burst(rule: Rule, x: Inputs) -> Alert | None:
    usd, burst = _last(x.panel, "liq_usd"), _last(x.panel, "liq_burst")
    thr = rule.param("usd")
    if not ((usd is not None and usd >= float(thr)) if thr is not None else bool(burst)):
        return None
    return _alert(
        rule,
        x.ts_ms,
        f"{rule.symbol}: liquidation burst",
        f"{usd_text(usd)} liquidated in the bar (longs {usd_text(_last(x.panel, 'liq_long_usd'))}, "
        f"shorts {usd_text(_last(x.panel, 'liq_short_usd'))})",
        liq_usd=usd,
    )


def _regime_change(rule: Rule, x: Inputs) -> Alert | None:
    if x.regimes is None or x.regimes.height < 2:
        return None
    lab = x.regimes.sort("ts_ms")
    a, b = str(lab.get_column("regime")[-2]), str(lab.get_column("regime")[-1])
    if a == b:
        return None
    ev = str(lab.get_column("evidence")[-1]) if "evidence" in lab.columns else ""
    return _alert(
        rule, _ms(lab)[-1], f"{rule.symbol}: regime {a} → {b}", ev or f"now {b}", regime=b, previous=a
    )


def _hot_zone(rule: Rule, x: Inputs) -> Alert | None:
    close = _last(x.panel, "close")
    if x.zones is None or close is None:
        return None
    for z in x.zones.iter_rows(named=True):
        if z["price_lo"] <= close <= z["price_hi"]:
            return _alert(
                rule,
                x.ts_ms,
                f"{rule.symbol}: price in a {z['side']} hot zone",
                f"price {close:,.2f} inside {z['side']} zone #{z['rank']} "
                f"{z['price_lo']:,.2f}–{z['price_hi']:,.2f} ({usd_text(z['usd'])} modelled)",
                zone_rank=z["rank"],
                side=z["side"],
            )
    return None


#: Each rule kind's test of the newest bar (kinds and parameters: :data:`perpscope.alerts.config.KINDS`).
RULES: dict[str, Callable[[Rule, Inputs], Alert | None]] = {
    "funding_extreme": _funding_extreme,
    "funding_cross": _funding_cross,
    "oi_drop": _oi_drop,
    "liq_burst": _liq_burst,
    "regime_change": _regime_change,
    "hot_zone": _hot_zone,
}


def evaluate(
    rule: Rule,
    panel: pl.DataFrame,
    *,
    regimes: pl.DataFrame | None = None,
    zones: pl.DataFrame | None = None,
) -> list[Alert]:
    """The alerts ``rule`` raises on the newest bar of ``panel`` (empty when it does not fire).

    Parameters
    ----------
    rule : Rule
    panel : polars.DataFrame
        :func:`perpscope.metrics.build_panel` rows of the rule's venue and symbol, sorted by time.
    regimes : polars.DataFrame, optional
        ``ts_ms, regime[, evidence]`` labels (``regime_change``).
    zones : polars.DataFrame, optional
        :func:`perpscope.heatmap.hot_zones` of the current map (``hot_zone``).
    """
    if panel.is_empty():
        return []
    hit = RULES[rule.kind](rule, Inputs(panel, _ms(panel)[-1], regimes, zones))
    return [] if hit is None else [hit]
