"""Whether an integer series rises, checked on numpy views of its chunks (no copy into one array).

Used where a frame's order is checked on a hot path: the store's merge (a month of trades whose ids
rise) and the archive parsers (a file whose times must move forward). Two million trades in ~5 ms
where a polars ``diff`` and comparison, or a copy of the column into one array, cost more.
"""

from __future__ import annotations

import polars as pl

#: What :func:`rise` finds of a series: it goes down somewhere, never goes down, always goes up.
FALLS, NEVER_FALLS, RISES = 0, 1, 2


def rise(s: pl.Series) -> int:
    """:data:`RISES` when an integer (or instant) series without nulls strictly increases,
    :data:`NEVER_FALLS` when it never decreases, else :data:`FALLS`; checked chunk by chunk on numpy
    views of polars' buffers and across the chunks' boundaries. The caller rules out nulls."""
    strict = True
    prev = None
    for chunk in s.to_physical().get_chunks():
        a = chunk.to_numpy()
        if not len(a):
            continue
        if prev is not None:
            if a[0] < prev:
                return FALLS
            strict = strict and bool(a[0] > prev)
        if len(a) > 1:
            head, tail = a[:-1], a[1:]
            if strict and not bool((tail > head).all()):
                strict = False
            if not strict and not bool((tail >= head).all()):
                return FALLS
        prev = a[-1]
    return RISES if strict else NEVER_FALLS


__all__ = ["FALLS", "NEVER_FALLS", "RISES", "rise"]
