"""Alert rules over the metrics panel (pure: frames in, alerts out), and the cooldown/de-duplication
state that decides which of them are sent.

Each rule looks at the newest bar of the panel (one venue and symbol, sorted by ``ts_ms``) and, for
``regime_change`` and ``hot_zone``, at the regime labels and hot zones computed from the same panel.
"""

from __future__ import annotations

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
    ts = _ms(panel)[-1]
    k = rule.kind
    if k == "funding_extreme":
        col = _funding_column(panel)
        z, apr = _last(panel, "funding_z"), _last(panel, "funding_apr")
        per = "interval"
        if col == "funding_sampled_8h":  # sampled rates only (e.g. across venues): no settlement to score
            rate8 = _last(panel, col)
            apr = None if rate8 is None else rate8 * _APR_PER_8H
            per = "8h (sampled)"
        zt, at = rule.param("z"), rule.param("apr")
        hit_z = z is not None and zt is not None and abs(z) >= float(zt)
        hit_a = apr is not None and at is not None and abs(apr) * 100 >= float(at)
        if hit_z or hit_a:
            return [
                _alert(
                    rule,
                    ts,
                    f"{rule.symbol}: funding extreme",
                    f"funding {pct_text(_last(panel, col or 'funding_rate'), 4)} per {per}, "
                    f"{pct_text(apr, 1)} APR, z = {z if z is None else round(z, 2)}",
                    funding_z=z,
                    funding_apr=apr,
                )
            ]
    elif k == "funding_cross":
        col = _funding_column(panel) or "funding_rate"
        r = panel.get_column(col).drop_nulls() if col in panel.columns else pl.Series([])
        if r.len() >= 2 and (r[-1] > 0) != (r[-2] > 0) and r[-1] != 0 and r[-2] != 0:
            # only on the bar where the new settlement (or cross-venue rate) first shows
            now, before = _last(panel, col), panel.get_column(col)[-2]
            if now is not None and before is not None and now != before:
                direction = "positive" if r[-1] > 0 else "negative"
                per = "interval" if col == "funding_rate" else "8h (sampled)"
                return [
                    _alert(
                        rule,
                        ts,
                        f"{rule.symbol}: funding turned {direction}",
                        f"funding {pct_text(r[-2], 4)} → {pct_text(r[-1], 4)} per {per}",
                        previous=r[-2],
                        rate=r[-1],
                    )
                ]
    elif k == "oi_drop":
        w = interval_ms(str(rule.param("window")))
        t = _ms(panel)
        oi = panel.get_column("oi_usd") if "oi_usd" in panel.columns else None
        if oi is not None and oi[-1] is not None:
            past = [o for tt, o in zip(t, oi.to_list(), strict=True) if tt <= ts - w and o is not None]
            if past:
                chg = oi[-1] / past[-1] - 1
                if chg <= -float(rule.param("pct")) / 100:
                    return [
                        _alert(
                            rule,
                            ts,
                            f"{rule.symbol}: open interest {pct_text(chg, 1)} over {rule.param('window')}",
                            f"OI {usd_text(past[-1])} → {usd_text(oi[-1])} over {rule.param('window')}",
                            oi_change=chg,
                        )
                    ]
    elif k == "liq_burst":
        usd, burst = _last(panel, "liq_usd"), _last(panel, "liq_burst")
        thr = rule.param("usd")
        hit = (usd is not None and usd >= float(thr)) if thr is not None else bool(burst)
        if hit:
            return [
                _alert(
                    rule,
                    ts,
                    f"{rule.symbol}: liquidation burst",
                    f"{usd_text(usd)} liquidated in the bar (longs {usd_text(_last(panel, 'liq_long_usd'))}, "
                    f"shorts {usd_text(_last(panel, 'liq_short_usd'))})",
                    liq_usd=usd,
                )
            ]
    elif k == "regime_change":
        if regimes is not None and regimes.height >= 2:
            lab = regimes.sort("ts_ms")
            a, b = str(lab.get_column("regime")[-2]), str(lab.get_column("regime")[-1])
            if a != b:
                ev = str(lab.get_column("evidence")[-1]) if "evidence" in lab.columns else ""
                return [
                    _alert(
                        rule,
                        _ms(lab)[-1],
                        f"{rule.symbol}: regime {a} → {b}",
                        ev or f"now {b}",
                        regime=b,
                        previous=a,
                    )
                ]
    elif k == "hot_zone":
        close = _last(panel, "close")
        if zones is not None and close is not None:
            for z in zones.iter_rows(named=True):
                if z["price_lo"] <= close <= z["price_hi"]:
                    return [
                        _alert(
                            rule,
                            ts,
                            f"{rule.symbol}: price in a {z['side']} hot zone",
                            f"price {close:,.2f} inside {z['side']} zone #{z['rank']} "
                            f"{z['price_lo']:,.2f}–{z['price_hi']:,.2f} ({usd_text(z['usd'])} modelled)",
                            zone_rank=z["rank"],
                            side=z["side"],
                        )
                    ]
    return []


@dataclass
class AlertState:
    """What has been sent: event keys (de-duplication) and, per rule and symbol, the last alert's bar
    (cooldown). Held by the caller (one per ``alerts run``), never by the module."""

    seen: set[str] = field(default_factory=set)
    last_ms: dict[str, int] = field(default_factory=dict)

    def admit(self, alert: Alert, cooldown_ms: int) -> bool:
        """True (and remembered) if ``alert`` is new and outside its rule's cooldown."""
        if alert.key in self.seen:
            return False
        slot = f"{alert.rule}|{alert.venue}|{alert.symbol}"
        prev = self.last_ms.get(slot)
        self.seen.add(alert.key)
        if prev is not None and alert.ts_ms - prev < cooldown_ms:
            return False
        self.last_ms[slot] = alert.ts_ms
        return True
