"""numba for perpscope's compiled kernels: every kernel module takes ``njit`` from here, so the process
compiles with the garbage collector paused.

A first compile (an empty cache, :mod:`perpscope.core.kernel_cache`) allocates millions of short-lived
objects (types, IR, LLVM wrappers). Python's collector runs every 700 allocations and, each tenth time,
walks the older generations too, holding every imported module's objects: classify's first compile took
5.8-6.1 s with the collector on and 4.5-5.6 s with it off (issue 20, sitting 11). A listener on numba's
``numba:compile`` event pauses the collector while a compile runs (nested compiles counted) and restores
it after; garbage made meanwhile is collected at the next collection as usual. Loading kernels from the
cache fires no compile event and changes nothing.

:func:`read_only` keeps a kernel to one compiled signature whatever memory its caller holds.
"""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
from numba import njit
from numba.core import event

__all__ = ["njit", "read_only"]


def read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a``, for a kernel's argument: numba compiles one signature per argument
    type, and read-only (polars' own memory) and writable (a numpy result) arrays are different types,
    so a kernel called with both compiled twice on a first run (0.1-0.6 s each, issue 20)."""
    v = a.view()
    v.flags.writeable = False
    return v


class _CollectorPausedWhileCompiling(event.Listener):
    """Disables ``gc`` from the outermost compile's start to its end, if it was enabled (numba compiles
    under its global compiler lock, so starts and ends are not interleaved across threads)."""

    def __init__(self) -> None:
        self.depth = 0
        self.resume = False

    def on_start(self, event: Any) -> None:
        if self.depth == 0:
            self.resume = gc.isenabled()
            gc.disable()
        self.depth += 1

    def on_end(self, event: Any) -> None:
        self.depth -= 1
        if self.depth == 0 and self.resume:
            gc.enable()


event.register("numba:compile", _CollectorPausedWhileCompiling())
