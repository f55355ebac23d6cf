"""Assemble a computation's inputs from the store and run it: one place for "read, then compute".

The CLI, the API and the alerts all need the same steps (read a symbol's frames from a
:class:`~perpscope.store.Lake`, fall back to the per-coin aggregate, choose a heatmap model, build the
cascade's starting state). They live here, between the front ends and the pure computation packages.
Errors are :class:`StoreInputError` (an :class:`~perpscope.core.errors.InputError`) whose message says
what to do; the CLI turns them into ``fail(...)``, the API into a 4xx.
"""

from __future__ import annotations

from perpscope.assemble.errors import StoreInputError

__all__ = ["StoreInputError"]
