"""classify / episodes on hand-built panels: each label's numbers are chosen so the definitions in
docs/regimes.md (the oracle) decide it, with a margin from every threshold."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl
import pytest

from perpscope.regimes import LABELS, RegimeConfig, classify, episodes
from perpscope.regimes.classify import HELD_STATES

PanelMaker = Callable[..., pl.DataFrame]

N = 12  # 4h bars: two days; the default window (1 day) is 6 bars


def _path(start: float, end: float) -> np.ndarray:
    """Flat at ``start`` for the first day, then ``end`` for the second (a step 6 bars back at the end)."""
    return np.r_[np.full(6, start), np.full(N - 6, end)]


# price ratio, OI ratio, funding per 8h, long liq, short liq, L/S ratio → label (docs/regimes.md)
CASES = [
    (1.03, 1.05, 0.0001, 1e6, 1e6, 1.8, "leverage_buildup"),
    (1.03, 0.95, 0.0001, 1e6, 1e6, 1.8, "short_covering"),
    (0.97, 1.05, 0.0001, 1e6, 1e6, 1.8, "new_shorts"),
    (0.97, 0.90, 0.0001, 9e6, 1e6, 1.8, "deleveraging_flush"),
    (0.97, 1.00, 0.0001, 1e6, 1e6, 1.8, "latent_fragility"),
    (1.00, 1.00, -0.0002, 1e6, 1e6, 0.7, "squeeze_risk_short"),
    (1.00, 1.00, 0.0005, 1e6, 1e6, 3.5, "squeeze_risk_long"),
    (1.00, 1.00, 0.0001, 1e6, 1e6, 1.8, "neutral"),
    # price down, OI down but shorts liquidated: not a long flush; nothing else holds
    (0.97, 0.90, 0.0001, 1e6, 9e6, 1.8, "neutral"),
    # price up, OI up, funding negative and falling: not leverage build-up
    (1.03, 1.05, -0.00005, 1e6, 1e6, 1.8, "neutral"),
]


@pytest.mark.parametrize(("p", "o", "f", "ll", "ls_", "ratio", "label"), CASES)
def test_each_label_from_its_definition(
    panel_of: PanelMaker, p: float, o: float, f: float, ll: float, ls_: float, ratio: float, label: str
) -> None:
    panel = panel_of(
        _path(100.0, 100.0 * p), oi=_path(1000.0, 1000.0 * o), funding=f, liq_long=ll, liq_short=ls_, ls=ratio
    )
    got = classify(panel)
    assert got.height == N
    # the move happens on bar 6 (the step): the label is dated there, where its 1-day change crosses
    assert got["regime"][6] == label
    assert set(got["regime"].unique()) <= set(LABELS)
    if label != "neutral":  # the window's condition still holds at the last bar ...
        assert got[f"is_{label}"][-1]
    if label == "short_covering":
        # ... but the flat bars after the step did not move: the event is not smeared over them
        assert got["regime"][-1] != label
    if label in HELD_STATES:
        # ... and a state entered on the step is held on the flat bars after it while the day's
        # condition holds (hysteresis, docs/regimes.md): it began on bar 6, it still describes the day
        assert (got["regime"][6:] == label).all()
        assert got["regime"][5] != label  # and not before it began


def test_precedence_flush_beats_squeeze(panel_of: PanelMaker) -> None:
    # flush conditions and squeeze-risk-short conditions both hold: the flush comes first in LABELS
    panel = panel_of(
        _path(100, 97), oi=_path(1000, 900), funding=-0.0002, liq_long=9e6, liq_short=1e6, ls=0.7
    )
    got = classify(panel)
    step = got.row(6, named=True)  # the bar of the move
    assert step["is_deleveraging_flush"] and step["is_squeeze_risk_short"]
    assert step["regime"] == "deleveraging_flush"


def test_evidence_states_the_numbers(panel_of: PanelMaker) -> None:
    panel = panel_of(
        _path(100, 102.1), oi=_path(1000, 1043), funding=0.00012, liq_long=1e6, liq_short=2e6, ls=1.8
    )
    last = classify(panel).row(-1, named=True)
    assert last["is_leverage_buildup"]
    # 102.1/100 − 1 = +2.1%, 1043/1000 − 1 = +4.3% (coins; USD = coins × price: 1.043 × 1.021 − 1 =
    # +6.5%), 0.00012 = 0.012%; liquidations: 6 bars × 1M / 2M; the last bar did not move, so the
    # day's reading is not dated to it and the evidence is the day's numbers all the same
    ev = last["evidence"]
    for part in (
        "over 1d: price +2.1%",
        "OI +4.3% in coins, +6.5% in USD",
        "funding +0.012% per 8h",
        "liq long $6.0M / short $12.0M",
    ):
        assert part in ev, (part, ev)
    assert last["price_chg"] == pytest.approx(0.021)
    assert last["oi_chg"] == pytest.approx(0.043)


def test_oi_in_usd_only_is_deflated_by_price(panel_of: PanelMaker) -> None:
    # OI in USD rose exactly with the price (+3%): no new positions, OI "holds" in coins
    panel = panel_of(_path(100, 103), funding=0.0001).with_columns((pl.col("close") * 10.0).alias("oi_usd"))
    last = classify(panel).row(-1, named=True)
    assert last["oi_chg"] == pytest.approx(0.0, abs=1e-12)
    assert last["regime"] == "neutral"


def test_no_history_is_insufficient_data(panel_of: PanelMaker) -> None:
    got = classify(panel_of(np.linspace(100, 90, N), oi=np.full(N, 1000.0), funding=0.0001))
    # the first 6 bars have no bar a day earlier: nothing to compare — said, not read as "neutral"
    # (bar 0 has no bar before it either; bars 1–5 may read their own bar's move)
    assert got["regime"][0] == "insufficient_data"
    assert got["missing"][:6].to_list() == ["price change, OI"] * 6
    assert "insufficient data: no price change, OI" in got["evidence"][0]
    assert got["price_chg"][:6].null_count() == 6


def test_point_in_time(panel_of: PanelMaker) -> None:
    rng = np.random.default_rng(3)
    n = 200
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    oi = 1000 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    panel = panel_of(
        close,
        oi=oi,
        funding=rng.normal(0, 1e-4, n),
        liq_long=rng.gamma(1, 1e6, n),
        liq_short=rng.gamma(1, 1e6, n),
    )
    full = classify(panel)
    cut = classify(panel.head(120))
    assert cut.equals(full.head(120))


def test_gaps_use_time_not_rows(panel_of: PanelMaker) -> None:
    rng = np.random.default_rng(5)
    n = 60
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    panel = panel_of(close, oi=1000 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), funding=1e-4)
    full = classify(panel)
    gappy = classify(panel.filter(pl.int_range(pl.len()) != 30))
    # bars whose day-earlier bar (6 back) is still there keep the same price change
    keep = [i for i in range(6, n) if i != 30 and i - 6 != 30]
    a = full.filter(pl.int_range(pl.len()).is_in(keep))["price_chg"].to_list()
    b = (
        gappy.join(full.select("ts_ms").with_row_index("i"), on="ts_ms")
        .filter(pl.col("i").is_in(keep))["price_chg"]
        .to_list()
    )
    assert a == pytest.approx(b)


def test_many_series_are_independent(panel_of: PanelMaker) -> None:
    a = panel_of(_path(100, 103), oi=_path(1000, 1050), funding=1e-4, canonical="AAA-USDT-PERP")
    b = panel_of(_path(100, 97), oi=_path(1000, 1050), funding=1e-4, canonical="BBB-USDT-PERP")
    both = classify(pl.concat([b, a]))
    step = both.group_by("canonical").agg(pl.col("regime").get(6)).sort("canonical")
    assert step["regime"].to_list() == ["leverage_buildup", "new_shorts"]
    assert (
        both.filter(pl.col("canonical") == "AAA-USDT-PERP")
        .drop("canonical")
        .equals(classify(a).drop("canonical"))
    )


def test_episodes_merge_runs(panel_of: PanelMaker) -> None:
    panel = panel_of(_path(100, 103), oi=_path(1000, 1050), funding=1e-4)
    lab = classify(panel)
    ep = episodes(lab)
    # 6 bars without a day of history, then the step bar (leverage build-up over 1d, entered there) and
    # the flat bars the day still reads as build-up (+3% price, +5% OI: the state is held) in one episode
    assert ep["regime"].to_list() == ["insufficient_data", "leverage_buildup"]
    assert ep["bars"].to_list() == [6, 6]
    assert ep["start_ms"][1] == lab["ts_ms"][6]
    assert (ep["end_ms"][1] - ep["start_ms"][1]).total_seconds() == 6 * 4 * 3600
    assert ep["evidence"][1].startswith("opened on: over 1d: price +3.0%")


def test_episodes_write_evidence_when_classify_did_not(panel_of: PanelMaker) -> None:
    panel = panel_of(_path(100, 103), oi=_path(1000, 1050), funding=1e-4)
    fast = episodes(classify(panel, evidence=False))
    full = episodes(classify(panel))
    assert fast["evidence"].to_list() == full["evidence"].to_list()


def test_config_validates() -> None:
    with pytest.raises(ValueError, match="price_move"):
        RegimeConfig(price_move=0)
    with pytest.raises(ValueError, match="flush_long_share"):
        RegimeConfig(flush_long_share=0.3)


def test_thresholds_are_parameters(panel_of: PanelMaker) -> None:
    panel = panel_of(_path(100, 101.5), oi=_path(1000, 1030), funding=1e-4)
    assert classify(panel)["regime_window"][6] == "leverage_buildup"
    assert classify(panel, RegimeConfig(price_move=0.02))["regime_window"][6] is None
