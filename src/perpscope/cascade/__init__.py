"""perpscope.cascade — the liquidation cascade simulator: forced selling into the next layer of leverage.

Pure: books, liquidity and shocks in; outcome tables out (no venues, store, network or wall clock).

- :mod:`~perpscope.cascade.book`: the positions a cascade starts from (heatmap model or a user's table).
- :mod:`~perpscope.cascade.liquidity`: impact curves from book-depth bands or the square-root law.
- :mod:`~perpscope.cascade.kernel`: the round-by-round cascade, readable reference and numba twin.
- :mod:`~perpscope.cascade.simulate`: Monte Carlo over the uncertain inputs; fragility curves.
- :mod:`~perpscope.cascade.replay`: replays of real episodes against what happened.

Model card: ``docs/cascade.md``.
"""

from perpscope.cascade.book import (
    CascadeInputError,
    PositionBook,
    book_from_heatmap,
    book_from_table,
    concat_books,
    ensemble_books,
)
from perpscope.cascade.kernel import PathsOut
from perpscope.cascade.liquidity import ImpactCurve, SqrtImpact, curve_from_depth, fit_sqrt_impact
from perpscope.cascade.simulate import (
    CascadeConfig,
    CascadeResult,
    Liquidity,
    Shock,
    fragility,
    parse_shock,
    simulate,
)

__all__ = [
    "CascadeConfig",
    "CascadeInputError",
    "CascadeResult",
    "ImpactCurve",
    "Liquidity",
    "PathsOut",
    "PositionBook",
    "Shock",
    "SqrtImpact",
    "book_from_heatmap",
    "book_from_table",
    "concat_books",
    "curve_from_depth",
    "ensemble_books",
    "fit_sqrt_impact",
    "fragility",
    "parse_shock",
    "simulate",
]
