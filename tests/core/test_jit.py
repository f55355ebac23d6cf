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
