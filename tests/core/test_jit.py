"""``core.jit``: the collector is paused while numba compiles and restored after, in a fresh process
with an empty cache (a compile must happen)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def test_collector_paused_during_a_compile_and_restored(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import gc
        from numba.core import event

        seen = []

        class Probe(event.Listener):
            def on_start(self, e):
                pass

            def on_end(self, e):
                seen.append(gc.isenabled())  # notified before core.jit's listener (registered first)

        event.register("numba:compile", Probe())
        from perpscope.core.jit import njit

        @njit(cache=False)
        def inner(x):
            return x + 1

        @njit(cache=False)
        def outer(x):
            return inner(x) * 2

        assert gc.isenabled()
        print(outer(3), seen, gc.isenabled())
        gc.disable()  # a caller that turned it off keeps it off

        @njit(cache=False)
        def third(x):
            return x - 1

        third(1)
        print(gc.isenabled())
        """
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    first, second = out.stdout.strip().splitlines()
    value, rest = first.split(" ", 1)
    assert value == "8"
    # both compiles (outer, and inner inside it) ended with the collector off; on again after
    assert rest == "[False, False] True"
    assert second == "False"


def test_kernels_behind_read_only_doors_keep_one_signature() -> None:
    """Writable (numpy's) and read-only (polars') arrays through each door: one compiled signature.

    In a fresh process: what a process holds depends on what it ran before (a batch in this one loads
    every version numba's cache holds, core/kernel_cache.py: start_loading)."""
    script = textwrap.dedent(
        """
        import numpy as np
        import polars as pl

        from perpscope.metrics import grid_windows as gw
        from perpscope.metrics import sorted_keys as sk
        from perpscope.regimes import treadmill_scan as ts

        keys = np.arange(6, dtype=np.int64)
        frozen = pl.Series(keys).to_numpy()  # polars' own memory: read-only
        assert not frozen.flags.writeable
        x = np.linspace(1.0, 2.0, 6)
        for a in (keys, frozen):
            sk.asof_index(a, keys, a, keys, -1)
            sk.asof_keyed(a, np.empty(0, np.int64), keys, 3, -1)
            sk.pairs_ascending(a, keys)
            gw.grid_trailing_z(x if a is keys else pl.Series(x).to_numpy(), np.array([0, 6]), 3, 2)
        flush = np.array([False, True, True, False, False, True])
        ts.flush_bounds(keys, flush, flush, 1)
        kernels = (sk._asof_index, sk._asof_keyed, sk._pairs_ascending, gw._grid_trailing_z)
        print(sorted(len(k.signatures) for k in kernels), len(ts._through.signatures))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    counts, through = out.stdout.split("] ")
    assert counts + "]" == "[1, 1, 1, 1]"
    # called only from flush_bounds: compiled with it on a cold cache, absent when that was loaded
    assert int(through) <= 1
