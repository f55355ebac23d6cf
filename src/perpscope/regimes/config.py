"""Thresholds and windows of the regime engine, with their defaults and the reasons for them.

Every number the engine compares against is a field of :class:`RegimeConfig`; the definitions that use
them are in ``docs/regimes.md``. Change a threshold by passing a new config, never by editing code.
"""

from __future__ import annotations

from dataclasses import dataclass

from perpscope.core.time import DAY_MS, WEEK_MS

#: The regime labels, in precedence order: when several hold on one bar the first one wins.
LABELS: tuple[str, ...] = (
    "deleveraging_flush",
    "short_covering",
    "new_shorts",
    "leverage_buildup",
    "squeeze_risk_short",
    "squeeze_risk_long",
    "latent_fragility",
    "insufficient_data",
    "neutral",
)


@dataclass(frozen=True)
class RegimeConfig:
    """Windows (ms) and thresholds (fractions) of the regime engine.

    Attributes
    ----------
    window_ms : int
        Look-back of the price, OI and funding changes a bar is classified on (default 1 day: long
        enough to hold a funding settlement of every schedule, short enough to date an event to a day).
    price_move : float
        ``|close(t) / close(t − window) − 1|`` at or above which price is "up" or "down" (default 0.01:
        1% a day, about a third of BTC's typical daily range; below it the move is noise).
    oi_move : float
        OI change over the window at or above which OI is "up" / "down"; below it OI "holds" (default
        0.02: 2% of open interest, in coins, opened or closed in a day is a real change of positioning,
        while day-to-day noise in BTC's OI is about 1%).
    funding_up_8h : float
        Funding per 8h at or above which funding is "up" (longs pay a material premium); funding that
        is positive and higher than a window ago also counts (default 0.00005 = 0.005%/8h, half the
        0.01%/8h baseline most venues pay when the premium is flat).
    flush_long_share : float
        Share of the window's liquidated USD that was longs for a flush (default 0.6: longs clearly
        dominate; 0.5 would call a balanced washout a long flush).
    squeeze_short_funding_8h : float
        Funding per 8h at or below which shorts pay (a squeeze-risk-short condition), default 0.0: any
        negative funding means shorts pay longs to hold their positions.
    squeeze_long_funding_8h : float
        Funding per 8h at or above which longs are crowded (squeeze-risk-long), default 0.0003 =
        0.03%/8h, three times the baseline (about 33% a year).
    ls_short_max : float
        A long/short account ratio at or below this is skewed short (default 1.0: more shorts than
        longs).
    ls_long_min : float
        A long/short ratio at or above this is skewed long (default 3.0: three long accounts per short).
    ratio_z : float
        ``|z|`` of a long/short ratio against its past 30 days (panel ``ratio_z_*``) at or above which
        positioning is skewed, whatever its level (default 2: the panel's extreme threshold).
    flush_gap_ms : int
        Flush episodes closer than this merge into one flush for the treadmill and the breakers
        (default 1 day: one event whose bars flicker out of the label is still one event).
    rebuild_min : float
        Share of the OI a flush removed that must be rebuilt before the next flush for a treadmill
        cycle (default 0.5: half of the leverage came back).
    range_max : float
        ``high / low − 1`` of the price over two consecutive flushes at or below which the cycle stayed
        "within a range" (default 0.25; wider is a trend, not a range).
    rebuild_within_ms : int
        The rebuilt leverage of a treadmill cycle must be there within this long after the flush's end
        (default 7 days: "traders re-lever on the bounce" — the bounce is the days after the low; OI
        built later is the positioning of a new phase, not the flushed traders re-levering; a week is
        also ``episode_gap_ms``, the aftershocks of one flush).
    cycle_max_ms : int
        The next flush of a cycle must start within this long after the first flush's end (default 14
        days: a week to re-lever on the bounce and a week for that leverage to be flushed; before this
        bound one BTC cycle ran 4 Jul → 10 Oct 2025, three months in which OI tripled what was flushed).
    min_cycles : int
        Consecutive cycles that make a treadmill (default 2: the pattern repeated at least once).
    flow_window_ms : int
        Window of the flow hierarchy and the breakers' flow and volatility checks (default 7 days:
        enough bars for a correlation at 4h bars, 42, and a week of spot/perp volume).
    structural_ratio : float
        Spot/perp volume ratio below which the market is structurally derivatives-heavy and
        derivatives signals are less reliable (default 0.2, the issue's example: spot trades a fifth of
        futures).
    lead_margin : float
        How much larger one market's flow-return correlation must be to "lead" (default 0.1).
    ratio_fall : float
        Fall of the perp/spot volume ratio (last flow window vs the one before) that counts as
        "falling" for the spot-led breaker (default 0.1: 10%).
    vol_window_ms : int
        Baseline window of the volatility-regime breaker, before the last ``flow_window_ms`` (default 30
        days).
    vol_change : float
        Ratio of realized volatility (last flow window / baseline) at or above which, or at or below
        its inverse, the volatility regime changed (default 1.5).
    calm_share : float
        The largest liquidation window after a flush must be below this share of the flush's largest
        for "smaller liquidation bursts" (default 0.5).
    long_window_ms : int
        The long horizon a bar is also read over (default 3 days: a slide that no single day makes).
    burst_baseline_ms : int
        History a bar's liquidations are compared with for a burst (default 30 days).
    burst_quantile : float
        The quantile of that history's bars a burst is a multiple of (default 0.9: a busy bar of the
        month; a tenth of the month's bars would have to be extreme to move it).
    burst_ratio : float
        A bar whose liquidated USD is at least this multiple of the quantile is a burst (default 6:
        on BTC 4h bars Nov 2024 → Jun 2026, 10 bars in 430 days, among them the tariff crash of 3 Feb
        2025 (×6.4), 10 Oct 2025 (×51) and the June 2026 week (×6.9, ×6.3)).
    hold_share : float
        A state label (new shorts, leverage build-up, latent fragility) dated to the bar where it began
        is held on the next bars while its condition holds with the price threshold at this share of
        the entry's (default 0.5: the state ends when half its move is gone; hysteresis, so 1h bars
        do not alternate with neutral at each up-tick).
    episode_gap_ms : int
        Flushes closer than this are one episode, whose largest flush anchors the sustained-deleveraging
        breaker (default 7 days: a week of aftershocks belongs to the flush that started it).
    """

    window_ms: int = DAY_MS
    price_move: float = 0.01
    oi_move: float = 0.02
    funding_up_8h: float = 0.00005
    flush_long_share: float = 0.6
    squeeze_short_funding_8h: float = 0.0
    squeeze_long_funding_8h: float = 0.0003
    ls_short_max: float = 1.0
    ls_long_min: float = 3.0
    ratio_z: float = 2.0
    flush_gap_ms: int = DAY_MS
    rebuild_min: float = 0.5
    range_max: float = 0.25
    min_cycles: int = 2
    rebuild_within_ms: int = WEEK_MS
    cycle_max_ms: int = 2 * WEEK_MS
    flow_window_ms: int = WEEK_MS
    structural_ratio: float = 0.2
    lead_margin: float = 0.1
    ratio_fall: float = 0.1
    vol_window_ms: int = 30 * DAY_MS
    vol_change: float = 1.5
    calm_share: float = 0.5
    long_window_ms: int = 3 * DAY_MS
    burst_baseline_ms: int = 30 * DAY_MS
    burst_quantile: float = 0.9
    burst_ratio: float = 5.0
    episode_gap_ms: int = WEEK_MS
    hold_share: float = 0.5

    def __post_init__(self) -> None:
        for name in (
            "window_ms",
            "flush_gap_ms",
            "flow_window_ms",
            "vol_window_ms",
            "long_window_ms",
            "burst_baseline_ms",
            "episode_gap_ms",
            "rebuild_within_ms",
            "cycle_max_ms",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"RegimeConfig.{name} must be a positive number of ms, got {getattr(self, name)}"
                )
        for name in ("price_move", "oi_move", "rebuild_min", "range_max", "structural_ratio"):
            if getattr(self, name) <= 0:
                raise ValueError(
                    f"RegimeConfig.{name} must be a positive fraction, got {getattr(self, name)}"
                )
        if not 0.5 <= self.flush_long_share <= 1:
            raise ValueError(
                f"RegimeConfig.flush_long_share must be in [0.5, 1], got {self.flush_long_share}"
            )
        if self.vol_change <= 1:
            raise ValueError(f"RegimeConfig.vol_change must be above 1, got {self.vol_change}")
        if self.long_window_ms <= self.window_ms:
            raise ValueError(
                f"RegimeConfig.long_window_ms ({self.long_window_ms}) must be longer than window_ms "
                f"({self.window_ms})"
            )
        if not 0 < self.burst_quantile < 1 or self.burst_ratio <= 1:
            raise ValueError(
                "RegimeConfig.burst_quantile must be in (0, 1) and burst_ratio above 1, got "
                f"{self.burst_quantile}, {self.burst_ratio}"
            )
        if not 0 < self.hold_share <= 1:
            raise ValueError(f"RegimeConfig.hold_share must be in (0, 1], got {self.hold_share}")
        if self.min_cycles < 1:
            raise ValueError(f"RegimeConfig.min_cycles must be at least 1, got {self.min_cycles}")
