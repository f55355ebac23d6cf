"""perpscope.evaluate: does a signal predict, out of sample, after costs and after counting every try?

Pure: frames in, tables out (no store, network or clock). Modules: :mod:`~perpscope.evaluate.stats`
(intervals, skill scores, direction and forecast-comparison tests, reality check, deflated Sharpe),
:mod:`~perpscope.evaluate.events` (event studies with de-clustered, independent events),
:mod:`~perpscope.evaluate.walkforward` (purged, embargoed walk-forward of a logistic model),
:mod:`~perpscope.evaluate.microstructure` (activity around funding settlements),
:mod:`~perpscope.evaluate.spec` (the TOML study spec) and :mod:`~perpscope.evaluate.study` (runs a spec).
Method and caveats: ``docs/evaluate.md``.
"""

from perpscope.evaluate.events import event_study, forward_outcomes, label_signals
from perpscope.evaluate.microstructure import settlement_windows
from perpscope.evaluate.spec import StudySpec, builtin_studies, load_spec, parse_spec
from perpscope.evaluate.study import run_study
from perpscope.evaluate.walkforward import Costs, WalkForwardConfig

__all__ = [
    "Costs",
    "StudySpec",
    "WalkForwardConfig",
    "builtin_studies",
    "event_study",
    "forward_outcomes",
    "label_signals",
    "load_spec",
    "parse_spec",
    "run_study",
    "settlement_windows",
]
