"""The flow evidence at one instant: what the spot and institutional side said, and what was missing.

For the spot-led circuit breaker and the flow hierarchy (``perpscope.regimes``): at time ``t`` it gives
the ETF flow of the last 5 sessions, the stablecoin supply change over 7 days, the perp/spot volume
ratio and its direction, and CME leveraged-funds net positioning — each only as it was **public** at
``t`` (rows with ``known_ms <= t``), each with its as-of instant, and the inputs that were missing or
too old named instead of being read as neutral.

Units: USD (``*_usd``), BTC (``*_base``), fractions (``stablecoin_7d``), a plain ratio
(``perp_spot_ratio``). Inputs are the frames of :mod:`perpscope.metrics.flows` and
:func:`perp_spot_daily`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from perpscope.core.format import num_text, pct_text, usd_text
from perpscope.metrics.flows import ETF_WINDOW_SESSIONS, known_at
from perpscope.metrics.frames import instant, ms, require
from perpscope.metrics.volume import candle_volume, perp_spot_ratio

DAY_MS = 86_400_000
#: Spot/perp volume below which the market is structurally derivatives-heavy (perp/spot above 5):
#: the seeds' 0.2 structural-imbalance warning (the same threshold as ``regimes``' ``structural_ratio``).
STRUCTURAL_SPOT_PERP = 0.2
#: A ratio this much below (above) the one a day earlier reads "falling" ("rising"); else "flat".
DIRECTION_BAND = 0.05

#: How old each input may be at ``t`` before it counts as missing (stale), ms. ETF: a long weekend plus a
#: holiday (5 days); stablecoins are daily (3 days); CFTC is weekly, released Fridays (10 days); the
#: perp/spot ratio is hourly bars summed over a day (the last bar within 2 hours).
MAX_AGE_MS: dict[str, int] = {
    "etf": 5 * DAY_MS,
    "stablecoins": 3 * DAY_MS,
    "cme": 10 * DAY_MS,
    "perp_spot": 2 * 3_600_000,
}


@dataclass(frozen=True)
class FlowEvidence:
    """The flow side at ``t_ms``; every value as public at ``t_ms``, None when missing (see ``missing``)."""

    t_ms: int
    etf_5d_usd: float | None = None
    etf_day_ms: int | None = None  # the last session in the sum
    stablecoin_7d_usd: float | None = None
    stablecoin_7d: float | None = None  # fraction of the supply 7 days before
    stablecoin_day_ms: int | None = None
    perp_spot_ratio: float | None = None  # perp / spot volume over the last 24 h, same venue
    perp_spot_ratio_day_before: float | None = None
    perp_spot_direction: str | None = None  # "falling", "rising", "flat"
    structural_imbalance: bool | None = None  # spot / perp < 0.2
    perp_spot_ms: int | None = None  # end of the last bar in the ratio
    cme_lev_net_base: float | None = None
    cme_am_net_base: float | None = None
    cme_basis_trade: bool | None = None
    cme_release_ms: int | None = None
    missing: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """Plain values (JSON-ready)."""
        d = asdict(self)
        d["missing"] = list(self.missing)
        return d

    def text(self) -> str:
        """One line: ``ETF 5-day flow -$373M, stablecoin supply +1.00% in 7 days, perp/spot ratio 3.10
        falling, CME leveraged funds net -91k BTC (basis trade); missing: …``."""
        parts = []
        if self.etf_5d_usd is not None:
            parts.append(f"ETF {ETF_WINDOW_SESSIONS}-day flow {_signed_usd(self.etf_5d_usd)}")
        if self.stablecoin_7d is not None:
            parts.append(f"stablecoin supply {pct_text(self.stablecoin_7d)} in 7 days")
        if self.perp_spot_ratio is not None:
            word = f" {self.perp_spot_direction}" if self.perp_spot_direction else ""
            warn = " (spot/perp < 0.2: structural imbalance)" if self.structural_imbalance else ""
            parts.append(f"perp/spot ratio {num_text(self.perp_spot_ratio)}{word}{warn}")
        if self.cme_lev_net_base is not None:
            trade = " (basis trade)" if self.cme_basis_trade else ""
            parts.append(f"CME leveraged funds net {num_text(self.cme_lev_net_base)} BTC{trade}")
        text = ", ".join(parts) if parts else "no flow input"
        return f"{text}; missing: {', '.join(self.missing)}" if self.missing else text


def _signed_usd(x: float) -> str:
    return usd_text(x) if x < 0 else f"+{usd_text(x)}"


def perp_spot_daily(
    candles: pl.DataFrame, every_ms: int = 3_600_000, *, across_venues: bool = False
) -> pl.DataFrame:
    """Perp/spot volume ratio over the last 24 h, per bar, from trade candles of perp and spot.

    Parameters
    ----------
    candles : polars.DataFrame
        ``candles`` records of a coin's perp and spot markets (trade price).
    every_ms : int
        Bar length the ratio is read at (default 1 h).
    across_venues : bool
        Every venue's perps against every venue's spot (False: a venue's perp against its own spot).

    Returns
    -------
    polars.DataFrame
        ``[venue,] pair, ts_ms, known_ms`` (bar end), ``perp_volume_base``, ``spot_volume_base`` (24 h
        sums, base units), ``perp_spot_ratio``, ``spot_perp_ratio`` and ``structural_imbalance``
        (spot/perp < :data:`STRUCTURAL_SPOT_PERP`).

    Notes
    -----
    Base units (BTC on both sides), because some spot sources have no quote volume (the Binance spot
    1h export of the shared data has none). Σ over 24 h, then the ratio (a ratio of sums).
    """
    vol = candle_volume(candles, every_ms)
    r = perp_spot_ratio(vol, window_ms=DAY_MS, across_venues=across_venues, volume_col="volume_base")
    r = r.rename({"perp_volume_usd": "perp_volume_base", "spot_volume_usd": "spot_volume_base"})
    return r.with_columns(
        instant(ms("ts_ms") + every_ms).alias("known_ms"),
        (1.0 / pl.col("perp_spot_ratio")).alias("spot_perp_ratio"),
        ((1.0 / pl.col("perp_spot_ratio")) < STRUCTURAL_SPOT_PERP).alias("structural_imbalance"),
    )


def flow_evidence(
    t_ms: int,
    *,
    etf: pl.DataFrame | None = None,
    stablecoins: pl.DataFrame | None = None,
    perp_spot: pl.DataFrame | None = None,
    cme: pl.DataFrame | None = None,
    max_age_ms: dict[str, int] | None = None,
) -> FlowEvidence:
    """The flow evidence public at ``t_ms`` (int ms UTC), naming each input that is missing or stale.

    Parameters
    ----------
    t_ms : int
        The instant read (a regime bar's end, an event's time).
    etf : polars.DataFrame, optional
        :func:`perpscope.metrics.flows.etf_flows` output.
    stablecoins : polars.DataFrame, optional
        :func:`perpscope.metrics.flows.stablecoin_change` output (its ``ALL`` rows are read; a single
        coin's when there is no ``ALL``).
    perp_spot : polars.DataFrame, optional
        :func:`perp_spot_daily` output for one venue and pair (or across venues).
    cme : polars.DataFrame, optional
        :func:`perpscope.metrics.flows.cme_positioning` output.
    max_age_ms : dict, optional
        Overrides of :data:`MAX_AGE_MS` (keys ``etf``, ``stablecoins``, ``cme``, ``perp_spot``).

    Returns
    -------
    FlowEvidence
        ``missing`` names each input not given, empty, without a value public at ``t_ms``, or older than
        its maximum age (``"ETF flows (last 2025-10-03, 8 days old)"``).
    """
    ages = {**MAX_AGE_MS, **(max_age_ms or {})}
    missing: list[str] = []
    vals: dict[str, Any] = {}

    def latest(name: str, label: str, frame: pl.DataFrame | None, value_col: str) -> dict[str, Any] | None:
        if frame is None or frame.height == 0:
            missing.append(f"{label} (no data)")
            return None
        require(frame, ("known_ms", value_col), f"flow_evidence {name}")
        row = known_at(frame.filter(pl.col(value_col).is_not_null()), t_ms)
        if row is None:
            missing.append(f"{label} (none public yet)")
            return None
        known = int(row["known_ms"].timestamp() * 1000)
        if t_ms - known > ages[name]:
            missing.append(
                f"{label} (last {row['known_ms']:%Y-%m-%d}, {(t_ms - known) / DAY_MS:.0f} days old)"
            )
            return None
        return row

    row = latest("etf", "ETF flows", etf, f"flow_{ETF_WINDOW_SESSIONS}d_usd")
    if row is not None:
        vals["etf_5d_usd"] = row[f"flow_{ETF_WINDOW_SESSIONS}d_usd"]
        vals["etf_day_ms"] = _ms(row["ts_ms"])
    st = stablecoins
    if st is not None and st.height and "symbol" in st.columns and (st["symbol"] == "ALL").any():
        st = st.filter(pl.col("symbol") == "ALL")
    row = latest("stablecoins", "stablecoin supply", st, "change_7d")
    if row is not None:
        vals.update(stablecoin_7d_usd=row["change_7d_usd"], stablecoin_7d=row["change_7d"])
        vals["stablecoin_day_ms"] = _ms(row["ts_ms"])
    row = latest("perp_spot", "perp/spot volume", perp_spot, "perp_spot_ratio")
    if row is not None and perp_spot is not None:
        now = float(row["perp_spot_ratio"])
        end = _ms(row["known_ms"])
        before = known_at(perp_spot.filter(pl.col("perp_spot_ratio").is_not_null()), end - DAY_MS)
        prev = float(before["perp_spot_ratio"]) if before is not None else None
        vals.update(
            perp_spot_ratio=now,
            perp_spot_ratio_day_before=prev,
            perp_spot_direction=_direction(now, prev),
            structural_imbalance=bool(row["structural_imbalance"]),
            perp_spot_ms=end,
        )
    row = latest("cme", "CME positioning", cme, "lev_net_base")
    if row is not None:
        vals.update(
            cme_lev_net_base=row["lev_net_base"],
            cme_am_net_base=row.get("am_net_base"),
            cme_basis_trade=row.get("basis_trade"),
            cme_release_ms=_ms(row["ts_ms"]),
        )
    return FlowEvidence(t_ms=t_ms, missing=tuple(missing), **vals)


def _direction(now: float, before: float | None) -> str | None:
    if before is None or before <= 0:
        return None
    if now < before * (1 - DIRECTION_BAND):
        return "falling"
    if now > before * (1 + DIRECTION_BAND):
        return "rising"
    return "flat"


def _ms(t: Any) -> int:
    return int(t.timestamp() * 1000)
