"""perpscope.regimes: labels for what leverage is doing, each with the evidence that produced it.

Pure: a metrics panel (:func:`perpscope.metrics.build_panel`) in, tables out.

- :func:`classify`: price × OI × funding regime per bar (:data:`LABELS`, precedence in that order);
  :func:`episodes`: runs of one label merged;
- :func:`treadmill`: flush → rebuild → flush cycles within a range; :func:`circuit_breakers`: the
  checks that end it;
- :func:`flow_hierarchy`: derivatives- vs spot-led, and the structural-imbalance warning;
- :func:`reading`: the latest bar of each series read, for demo, dashboard and alerts.

Definitions, thresholds and the reasons for them: ``docs/regimes.md``; thresholds are a
:class:`RegimeConfig`.
"""

from perpscope.regimes.classify import EVIDENCE_COLUMNS, classify, episodes
from perpscope.regimes.config import LABELS, RegimeConfig
from perpscope.regimes.flow import flow_hierarchy
from perpscope.regimes.reading import reading
from perpscope.regimes.treadmill import circuit_breakers, treadmill

__all__ = [
    "EVIDENCE_COLUMNS",
    "LABELS",
    "RegimeConfig",
    "circuit_breakers",
    "classify",
    "episodes",
    "flow_hierarchy",
    "reading",
    "treadmill",
]
