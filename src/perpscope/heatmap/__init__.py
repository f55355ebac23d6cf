"""perpscope.heatmap — liquidation-level models whose method anyone can read and whose accuracy is measured.

Pure: record frames in, polars frames out (no venues, store, network or wall clock).

- :mod:`~perpscope.heatmap.liqprice`: exact venue liquidation prices; versioned bracket tables.
- :mod:`~perpscope.heatmap.inputs`: one series' records → model input bars.
- :mod:`~perpscope.heatmap.models`: the ``oi-change`` and ``trade-flow`` position-inference models.
- :mod:`~perpscope.heatmap.kernel`: the book kernel, readable reference and numba twin.
- :mod:`~perpscope.heatmap.zones`: current liquidation map, hot zones, ensemble with bands.
- :mod:`~perpscope.heatmap.calibration`: scores against realized liquidations, fit then test.
"""

from perpscope.heatmap.calibration import Calibration, Scores, calibrate, score_model, wilson, with_half_lives
from perpscope.heatmap.inputs import model_inputs
from perpscope.heatmap.liqprice import (
    BracketError,
    BracketTable,
    binance_isolated_factor,
    binance_liq_price,
    binance_liq_price_at,
    brackets_frame,
    bybit_liq_price,
    hyperliquid_liq_price,
    load_brackets,
    okx_liq_price,
    simple_liq_price,
    table_at,
)
from perpscope.heatmap.models import (
    MIXES,
    HeatmapRun,
    LeverageMix,
    OIChangeModel,
    PriceGrid,
    TradeFlowModel,
    default_grid,
    ensemble_members,
    run_model,
)
from perpscope.heatmap.zones import EnsembleRun, hot_zones, liquidation_map, run_ensemble

#: The default model, chosen with the calibration harness (see docs/heatmap/oi-change.md).
DEFAULT_MODEL = OIChangeModel(
    mix=MIXES["high"], side_rule="taker", entry_rule="typical", half_life_ms=30 * 86_400_000
)

#: The trade-flow default (no open interest needed), chosen the same way (docs/heatmap/trade-flow.md).
DEFAULT_TRADE_FLOW_MODEL = TradeFlowModel(mix=MIXES["high"], side_rule="taker", entry_rule="vwap")

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_TRADE_FLOW_MODEL",
    "MIXES",
    "BracketError",
    "BracketTable",
    "Calibration",
    "EnsembleRun",
    "HeatmapRun",
    "LeverageMix",
    "OIChangeModel",
    "PriceGrid",
    "Scores",
    "TradeFlowModel",
    "binance_isolated_factor",
    "binance_liq_price",
    "binance_liq_price_at",
    "brackets_frame",
    "bybit_liq_price",
    "calibrate",
    "default_grid",
    "ensemble_members",
    "hot_zones",
    "hyperliquid_liq_price",
    "liquidation_map",
    "load_brackets",
    "model_inputs",
    "okx_liq_price",
    "run_ensemble",
    "run_model",
    "score_model",
    "simple_liq_price",
    "table_at",
    "wilson",
    "with_half_lives",
]
