"""Replay the four BTC episodes of :data:`perpscope.cascade.replay.EPISODES` with the cascade simulator
(numbers for docs/cascade.md). Reads ``../shared/data`` (provenance: its SOURCES.md); prints the data's
facts first, then the simulated distributions.

Usage: ``.venv/bin/python scripts/cascade_replay.py [SHARED_DATA_DIR]``
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from perpscope.cascade.replay import EPISODES, Episode, ReplayResult, episode_end, push_bar, replay
from perpscope.cascade.simulate import CascadeConfig
from perpscope.core.time import DAY_MS, HOUR_MS, ms_to_iso
from perpscope.heatmap import model_inputs
from perpscope.heatmap.liqprice import brackets_for
from perpscope.venues.registry import sniff


def _parse(path: Path) -> dict[str, pl.DataFrame]:
    fmt = sniff(path)
    if fmt is None:
        raise SystemExit(f"{path}: no importer recognizes this file")
    out: dict[str, pl.DataFrame] = {}
    for p in fmt.parse(path):
        out[p.record.name] = pl.concat([out[p.record.name], p.frame]) if p.record.name in out else p.frame
    return out


@dataclass(frozen=True)
class Loaded:
    """An episode's inputs and the data's own facts about it."""

    state: pl.DataFrame
    fine: pl.DataFrame
    shock_ms: int
    end_ms: int
    realized_usd: float  # liquidations of the side at risk, CoinGlass Binance 4h bars of the window, USD


def load_episode(ep: Episode, shared: Path) -> Loaded:
    """1h state bars with Binance BTC open interest and L/S ratio, the fine bars, the push bar and window
    end read off the fine bars, and the realized liquidations of the side at risk."""
    ts = pl.col("ts_ms").dt.epoch("ms")
    kl = shared / "binance_um_klines_leopoldlj"
    cg = shared / "coinglass_liquidity_report"
    fine_all = _parse(kl / ep.fine_file)["candles"]
    fine_all = fine_all.filter((ts >= ep.window_ms - 8 * DAY_MS) & (ts < ep.window_ms + 3 * DAY_MS))
    fine = model_inputs(fine_all)
    shock_ms = push_bar(fine, ep.window_ms, ep.window_ms + DAY_MS, ep.direction)
    end_ms = episode_end(fine, shock_ms, ep.direction)
    fine = fine.filter(ts < end_ms)
    c1h = _parse(kl / "BTCUSDT_perp_1h_20191001_20260210.csv.gz")["candles"]
    c1h = c1h.filter((ts >= ep.state_from_ms) & (ts + pl.col("interval_ms") <= shock_ms))
    oi = _parse(cg / "open_interest_by_exchange_4h_BTC_ETH_SOL_XRP.csv.gz")["open_interest"]
    oi = oi.filter((pl.col("venue") == "binance") & (pl.col("symbol") == ep.symbol))
    oi = oi.filter((ts >= ep.state_from_ms - 86_400_000) & (ts < shock_ms))
    ratios = _parse(cg / "binance_BTCUSDT_4h_price_ls_ratios_orderbook_taker.csv.gz")["long_short_ratios"]
    ratios = ratios.filter(ts < shock_ms)
    state = model_inputs(c1h, oi, None, ratios)
    liq = _parse(cg / "liquidations_binance_4h_BTC_ETH_SOL_XRP.csv.gz")["liquidation_totals"]
    first_bar = shock_ms // (4 * HOUR_MS) * (4 * HOUR_MS)
    rows = liq.filter((pl.col("symbol") == ep.symbol) & (ts >= first_bar) & (ts < end_ms))
    if rows.is_empty():
        raise SystemExit(f"{ep.name}: no realized liquidation bar in [{first_bar}, {end_ms})")
    side = "long_usd" if ep.direction > 0 else "short_usd"
    return Loaded(state, fine, shock_ms, end_ms, float(rows.get_column(side).sum()))


def run(ep: Episode, shared: Path, paths: int = 1000, depth_divisor: float = 1.0) -> ReplayResult:
    """One replay of ``ep`` as docs/cascade.md reports it (Binance BTCUSDT brackets and formula)."""
    d = load_episode(ep, shared)
    return replay(
        ep.name, d.state, d.fine, shock_ms=d.shock_ms, end_ms=d.end_ms, realized_long_usd=d.realized_usd,
        direction=ep.direction, config=CascadeConfig(paths=paths),
        brackets=brackets_for("BTCUSDT", "binance"), depth_divisor=depth_divisor,
    )  # fmt: skip


def main() -> None:
    shared = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    facts, rows = [], []
    for ep in EPISODES:
        r = run(ep, shared)
        row = r.row()
        facts.append({
            "episode": ep.name, "push bar": ms_to_iso(load_episode(ep, shared).shock_ms)[:16],
            "price": r.price, "push %": r.shock_move * 100, "realized move %": r.realized_move * 100,
            "realized liq USD (side at risk)": r.realized_long_usd,
        })  # fmt: skip
        rows.append(row)
        print(ep.name, "|", r.mechanics, "|", r.impact.curve().source, r.impact_source)
    with pl.Config(tbl_cols=-1, tbl_width_chars=250, float_precision=3, tbl_rows=40):
        print(pl.DataFrame(facts))
        print(pl.DataFrame(rows).transpose(include_header=True, column_names="episode"))
    # Sensitivity, not tuning: the same state with the fitted depth divided by 10 (books thin out in a
    # crash).
    sens = []
    for ep in EPISODES:
        for thin in (1.0, 10.0):
            r = run(ep, shared, depth_divisor=thin)
            row = r.row()
            keep = ("sim_move_pct_p50", "realized_move_pct", "sim_long_usd_p50", "realized_long_usd")
            sens.append({
                "episode": ep.name, "depth ÷": thin, **{k: row[k] for k in keep},
                "branching_p50": row["branching_p50"], "rounds_p50": float(np.median(r.result.out.rounds)),
            })  # fmt: skip
    with pl.Config(tbl_cols=-1, tbl_width_chars=250, float_precision=3):
        print(pl.DataFrame(sens))


if __name__ == "__main__":
    main()
