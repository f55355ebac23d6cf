"""Replay the 10 Oct 2025 and 14 Aug 2025 BTC episodes with the cascade simulator (numbers for
docs/cascade.md). Reads ``../shared/data`` (provenance: its SOURCES.md); prints one table.

Usage: ``.venv/bin/python scripts/cascade_replay.py [SHARED_DATA_DIR]``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl

from perpscope.cascade.replay import EPISODES, Episode, replay
from perpscope.cascade.simulate import CascadeConfig
from perpscope.heatmap import model_inputs
from perpscope.venues.registry import sniff


def _parse(path: Path) -> dict[str, pl.DataFrame]:
    fmt = sniff(path)
    if fmt is None:
        raise SystemExit(f"{path}: no importer recognizes this file")
    out: dict[str, pl.DataFrame] = {}
    for p in fmt.parse(path):
        out[p.record.name] = pl.concat([out[p.record.name], p.frame]) if p.record.name in out else p.frame
    return out


def load_episode(ep: Episode, shared: Path) -> tuple[pl.DataFrame, pl.DataFrame, float]:
    """(1h state bars with Binance BTC open interest and L/S ratio, 5m bars, realized long liq USD)."""
    ts = pl.col("ts_ms").dt.epoch("ms")
    kl = shared / "binance_um_klines_leopoldlj"
    cg = shared / "coinglass_liquidity_report"
    c1h = _parse(kl / "BTCUSDT_perp_1h_20191001_20260210.csv.gz")["candles"]
    c1h = c1h.filter((ts >= ep.state_from_ms) & (ts + pl.col("interval_ms") <= ep.shock_ms))
    oi = _parse(cg / "open_interest_by_exchange_4h_BTC_ETH_SOL_XRP.csv.gz")["open_interest"]
    oi = oi.filter((pl.col("venue") == "binance") & (pl.col("symbol") == "BTC"))
    oi = oi.filter((ts >= ep.state_from_ms - 86_400_000) & (ts < ep.shock_ms))
    ratios = _parse(cg / "binance_BTCUSDT_4h_price_ls_ratios_orderbook_taker.csv.gz")["long_short_ratios"]
    ratios = ratios.filter(ts < ep.shock_ms)
    state = model_inputs(c1h, oi, None, ratios)
    c5 = _parse(kl / ep.fine_file)["candles"].filter(ts < ep.end_ms)
    fine = model_inputs(c5)
    liq = _parse(cg / "liquidations_binance_4h_BTC_ETH_SOL_XRP.csv.gz")["liquidation_totals"]
    row = liq.filter((pl.col("symbol") == "BTC") & (ts == ep.liq_bar_ms))
    if row.is_empty():
        raise SystemExit(f"{ep.name}: no realized liquidation bar at {ep.liq_bar_ms}")
    return state, fine, float(row.get_column("long_usd")[0])


def main() -> None:
    shared = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    rows = []
    for ep in EPISODES:
        state, fine, realized = load_episode(ep, shared)
        r = replay(ep.name, state, fine, shock_ms=ep.shock_ms, end_ms=ep.end_ms,
                   realized_long_usd=realized, config=CascadeConfig(paths=1000))  # fmt: skip
        rows.append(r.row())
        print(r.result.summary())
    with pl.Config(tbl_cols=-1, tbl_width_chars=250, float_precision=3, tbl_rows=40):
        print(pl.DataFrame(rows).transpose(include_header=True, column_names="episode"))
    # Sensitivity, not tuning: the same state with the fitted depth divided by 10 and 100 (books thin out
    # in a crash), and the Oct state's fragility ladder.
    sens = []
    for ep in EPISODES:
        state, fine, realized = load_episode(ep, shared)
        for thin in (1.0, 10.0, 100.0):
            r = replay(
                ep.name, state, fine, shock_ms=ep.shock_ms, end_ms=ep.end_ms, realized_long_usd=realized,
                config=CascadeConfig(paths=1000), depth_divisor=thin,
            )  # fmt: skip
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
