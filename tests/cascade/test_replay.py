"""Replays of four BTC episodes on the shared real data (numbers in docs/cascade.md come from
``scripts/cascade_replay.py``, which runs the same code).

The tests assert the data's own facts (push bar, price, realized move, realized liquidations, read off
the klines and CoinGlass's bars) and the model's properties (the cascade adds to the push and never
beyond the side's open notional; liquidations grow with the push). They never assert how far the model
is from what happened: docs/cascade.md judges that.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from perpscope.cascade.replay import EPISODES
from perpscope.core.time import ms_to_iso

ROOT = Path(__file__).resolve().parents[2]


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("cascade_replay", ROOT / "scripts" / "cascade_replay.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses resolve their module by name
    spec.loader.exec_module(mod)
    return mod


#: The data's facts per episode (SOURCES.md; Binance BTCUSDT perp klines, CoinGlass Binance BTC 4h
#: liquidations): push bar, its open, the window's extreme, realized USD of the side at risk.
FACTS = {
    "2025-10-10 tariff crash": ("2025-10-10 20:50", "2025-10-11 00:00", 116_830.3, 101_516.5, 235.60e6),
    "2025-08-14 PPI drop": ("2025-08-14 12:30", "2025-08-14 20:00", 121_140.5, None, 13.078e6),
    "2025-07-14 ATH squeeze": ("2025-07-14 03:00", "2025-07-14 08:00", 119_626.4, 123_300.0, 109.16e6),
    "2025-11-12 slide": ("2025-11-12 15:00", "2025-11-12 20:00", 103_948.5, 100_711.0, 21.35e6),
}


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("ep", EPISODES, ids=[e.name for e in EPISODES])
def test_replay_facts_and_properties(ep, shared_data: Path) -> None:  # type: ignore[no-untyped-def]
    mod = _script()
    d = mod.load_episode(ep, shared_data)
    push, end, p0, extreme, realized = FACTS[ep.name]
    assert ms_to_iso(d.shock_ms)[:16] == push and ms_to_iso(d.end_ms)[:16] == end
    assert d.realized_usd == pytest.approx(realized, rel=1e-3)
    r = mod.run(ep, shared_data, paths=200)
    assert r.price == p0
    if extreme is not None:
        assert r.realized_move == pytest.approx(extreme / p0 - 1)
    # the data: the window's move goes at least as far as the push bar's own
    assert ep.direction * r.realized_move <= ep.direction * r.shock_move + 1e-12
    # properties of the model: the cascade only adds to the push, by what its forced flow moves the
    # post-shock price (so it adds something on every path that liquidates); never more than is open
    add = -ep.direction * r.added_move
    liq = r.result.out.liq_usd
    assert (add >= -1e-12).all() and (add[liq > 0] > 0).all()
    n_members = len(set(r.result.draws.member.tolist()))
    # open_usd is the mean over the members of the side's open notional: their sum bounds any member's
    assert (liq <= r.result.open_usd * n_members * (1 + 1e-9)).all()
    assert 0.0 <= np.nanmedian(r.result.out.branching) < 1.0 or liq.max() == 0
    assert r.impact_source == "fitted" and r.mechanics.startswith("binance BTCUSDT brackets")
