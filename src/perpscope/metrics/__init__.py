"""perpscope.metrics: pure functions from record frames to metric frames.

Modules: :mod:`~perpscope.metrics.bars` (record frames onto a bar grid, point in time),
:mod:`~perpscope.metrics.funding`, :mod:`~perpscope.metrics.open_interest`,
:mod:`~perpscope.metrics.liquidations`, :mod:`~perpscope.metrics.volume`,
:mod:`~perpscope.metrics.positioning`, :mod:`~perpscope.metrics.rolling` (trailing z-score and
percentile) and :mod:`~perpscope.metrics.panel` (everything joined per bar). Definitions, units and
defaults: ``docs/metrics.md``.
"""

from perpscope.metrics.panel import PanelConfig, build_panel

__all__ = ["PanelConfig", "build_panel"]
