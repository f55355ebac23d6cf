"""Replays of the 10 Oct 2025 and 14 Aug 2025 BTC episodes on the shared real data (numbers in
docs/cascade.md come from ``scripts/cascade_replay.py``, which runs the same code)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from perpscope.cascade.replay import EPISODES, replay
from perpscope.cascade.simulate import CascadeConfig

ROOT = Path(__file__).resolve().parents[2]


def _loader():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("cascade_replay", ROOT / "scripts" / "cascade_replay.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.load_episode


@pytest.mark.shared
@pytest.mark.slow
def test_replay_both_episodes(shared_data: Path) -> None:
    load = _loader()
    rows = {}
    for ep in EPISODES:
        state, fine, realized = load(ep, shared_data)
        r = replay(ep.name, state, fine, shock_ms=ep.shock_ms, end_ms=ep.end_ms, realized_long_usd=realized,
                   config=CascadeConfig(paths=200))  # fmt: skip
        rows[ep.name] = r.row()
    oct10, aug14 = rows["2025-10-10 tariff crash"], rows["2025-08-14 PPI drop"]
    # the data's own numbers (SOURCES.md): CoinGlass Binance BTC long liquidations of the 2025-10-10 20:00
    # 4h bar = 235.6 M USD; the Binance perp wick low 101,516.5 from the 20:50 bar's open 116,830.3
    assert oct10["realized_long_usd"] == pytest.approx(235.6e6, rel=1e-3)
    assert oct10["realized_move_pct"] == pytest.approx((101_516.5 / 116_830.3 - 1) * 100)
    assert oct10["price"] == 116_830.3 and aug14["price"] == 121_140.5
    for r in (oct10, aug14):
        # the cascade only adds to the push; it stays subcritical (published: ~0.1–0.2 on 10 Oct)
        assert r["sim_move_pct_p50"] <= r["shock_pct"] + 1e-9
        assert 0.0 <= r["branching_p50"] < 1.0 or math.isnan(r["branching_p50"])
        assert 0.0 <= r["sim_long_usd_p50"] <= r["open_long_usd"] * 1.5
    # What the model gets wrong, measured (docs/cascade.md): on 10 Oct it stops far short of the
    # realized −13% — the fitted calm-market depth is far deeper than the book was that night.
    assert oct10["sim_move_pct_p50"] > oct10["realized_move_pct"] / 2
