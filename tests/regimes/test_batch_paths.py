"""The batch paths of the regime engine (one sort and a series number for many series; classify's
labels handed to circuit_breakers) give what each series computed alone gives.

The oracle is the same function run on one series at a time, where no grouping can mix series.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from perpscope.regimes import circuit_breakers, classify, episodes, flow_hierarchy, treadmill

PanelMaker = Callable[..., pl.DataFrame]


def _series(panel_of: PanelMaker, canonical: str, seed: int, venue: str = "binance") -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = 240
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    oi = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
    panel = panel_of(
        close,
        oi=oi,
        funding=rng.normal(1e-4, 2e-4, n),
        liq_long=rng.gamma(1.0, 1e6, n),
        liq_short=rng.gamma(1.0, 1e6, n),
        ls=np.exp(rng.normal(0.3, 0.5, n)),
        canonical=canonical,
    )
    imb = rng.uniform(-0.5, 0.5, n)
    return panel.with_columns(
        pl.lit(venue).alias("venue"),
        pl.lit(1e9).alias("volume_usd"),
        pl.Series("taker_imbalance", imb),
        pl.Series("spot_taker_imbalance", rng.uniform(-0.5, 0.5, n)),
        pl.Series("spot_taker_delta_usd", imb * 1e8),
    )


@pytest.fixture
def parts(panel_of: PanelMaker) -> list[pl.DataFrame]:
    # in (venue, canonical) order, the order the batch outputs come in
    return [
        _series(panel_of, "AAA-USDT-PERP", 1),
        _series(panel_of, "BBB-USDT-PERP", 2),
        _series(panel_of, "AAA-USDT-PERP", 3, venue="okx"),
    ]


def _shuffled(parts: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(parts).sample(fraction=1.0, shuffle=True, seed=7)


def test_many_series_in_any_row_order_match_each_alone(parts: list[pl.DataFrame]) -> None:
    both = _shuffled(parts)
    labels = classify(both)
    assert labels.get_column("regime").n_unique() > 2  # the data exercise several labels
    assert_frame_equal(labels, pl.concat([classify(p) for p in parts]))
    assert_frame_equal(flow_hierarchy(both), pl.concat([flow_hierarchy(p) for p in parts]))
    assert_frame_equal(episodes(labels), pl.concat([episodes(classify(p)) for p in parts]))
    assert_frame_equal(treadmill(both), pl.concat([treadmill(p) for p in parts]))
    assert_frame_equal(circuit_breakers(both), pl.concat([circuit_breakers(p) for p in parts]))


def test_circuit_breakers_reuse_labels(parts: list[pl.DataFrame]) -> None:
    both = _shuffled(parts)
    want = circuit_breakers(both)
    assert want.height == 3 * len(parts)
    assert_frame_equal(circuit_breakers(both, labels=classify(both, evidence=False)), want)
    assert_frame_equal(circuit_breakers(both, labels=classify(both).reverse()), want)
    with pytest.raises(ValueError, match="labels has"):
        circuit_breakers(both, labels=classify(parts[0]))
