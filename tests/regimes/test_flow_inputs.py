"""The spot-led breaker and the flow hierarchy with flow inputs on hand-built frames: the issue's example
reading (ETF 5-day flow +$1.2B, stablecoin supply +0.8% in 7 days, perp/spot ratio 3.1 falling), a value
published after the bar's end left unread, and a missing input named rather than read as "not engaged"."""

from __future__ import annotations

import numpy as np
import polars as pl
from tests.regimes.conftest import STEP, T0, TS, PanelMaker

from perpscope.regimes import circuit_breakers, flow_hierarchy, reading
from perpscope.regimes.flow import FlowInputs

DAY = 86_400_000
N = 60  # 4h bars: the last one ends at T0 + 10 days
END = T0 + N * STEP


def frames() -> FlowInputs:
    etf = pl.DataFrame(
        {
            "ts_ms": [T0 + 8 * DAY, T0 + 9 * DAY],
            # the second session's figure is public 1 ms after the last bar's end: never read
            "known_ms": [T0 + 8 * DAY + 20 * 3_600_000, END + 1],
            "flow_5d_usd": [1.2e9, -5e8],
        }
    ).with_columns(pl.col("ts_ms", "known_ms").cast(TS))
    stable = pl.DataFrame(
        {
            "symbol": ["ALL"],
            "ts_ms": [T0 + 9 * DAY],
            "known_ms": [T0 + 10 * DAY - 3_600_000],
            "change_7d": [0.008],
            "change_7d_usd": [1.6e9],
        }
    ).with_columns(pl.col("ts_ms", "known_ms").cast(TS))
    ratio = pl.DataFrame(
        {"known_ms": [END - DAY, END], "perp_spot_ratio": [3.5, 3.1], "structural_imbalance": [False, False]}
    ).with_columns(pl.col("known_ms").cast(TS))
    return FlowInputs(etf=etf, stablecoins=stable, perp_spot=ratio)


def spot_led(panel: pl.DataFrame, flows: FlowInputs) -> dict:  # type: ignore[type-arg]
    [row] = circuit_breakers(panel, flows=flows).filter(pl.col("check") == "spot_led_flow").to_dicts()
    return row


def test_breaker_reads_the_flows_when_the_panel_has_no_spot(panel_of: PanelMaker) -> None:
    panel = panel_of(np.linspace(100, 104, N), oi=np.full(N, 1000.0), funding=0.0001)
    row = spot_led(panel, frames())
    ev = row["evidence"]
    assert "ETF 5-day flow +$1.20B, stablecoin supply +0.80% in 7 days, perp/spot ratio 3.10 falling" in ev
    assert "-$500M" not in ev  # published after the bar's end
    assert "missing: CME positioning (no data)" in ev
    assert row["engaged"] is True and row["value"] == 3.1 / 3.5 - 1.0
    # without the panel's and without the flows' perp/spot reading nothing can tell: null, said why
    none = spot_led(panel, FlowInputs(etf=frames().etf, stablecoins=frames().stablecoins))
    assert none["engaged"] is None and "perp/spot volume (no data)" in none["evidence"]
    # an ETF outflow keeps it disengaged, with the reason
    out = frames()
    out = FlowInputs(
        etf=out.etf.with_columns(pl.lit(-1.2e9).alias("flow_5d_usd")),  # type: ignore[union-attr]
        stablecoins=out.stablecoins,
        perp_spot=out.perp_spot,
    )
    row = spot_led(panel, out)
    assert row["engaged"] is False and "ETF no inflow" in row["evidence"]


def test_flow_hierarchy_and_reading_carry_the_inputs_as_public(panel_of: PanelMaker) -> None:
    panel = panel_of(np.linspace(100, 104, N), oi=np.full(N, 1000.0), funding=0.0001)
    fh = flow_hierarchy(panel, flows=frames())
    end = fh["ts_ms"].dt.epoch("ms") + STEP
    etf_known = T0 + 8 * DAY + 20 * 3_600_000
    # before the ETF figure was public, no value; from the bar ending at it on, +1.2e9 (never −5e8)
    assert fh.filter(end < etf_known)["etf_5d_usd"].null_count() == fh.filter(end < etf_known).height
    assert fh.filter(end >= etf_known)["etf_5d_usd"].to_list() == [1.2e9] * fh.filter(end >= etf_known).height
    assert fh["stablecoin_7d"][-1] == 0.008 and fh["perp_spot_ratio_1d"][-1] == 3.1
    assert fh["cme_lev_net_base"].null_count() == fh.height
    r = reading(panel, flows=frames())
    assert r["flow_evidence"][0].startswith("ETF 5-day flow +$1.20B")
