"""``core.kernel_cache``: a compiled kernel's cache index is seen before and after its first call, in a
fresh process whose ``NUMBA_CACHE_DIR`` starts empty (numba reads it once, at import)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from perpscope.core.kernel_cache import kernel_cached


def test_a_plain_function_is_unknown() -> None:
    assert kernel_cached(len) is None


def test_cache_index_appears_after_first_compile(tmp_path: Path) -> None:
    module = tmp_path / "tiny_kernel.py"
    module.write_text(
        textwrap.dedent(
            """
            from numba import njit

            @njit(cache=True)
            def double(x):
                return 2 * x
            """
        )
    )
    script = textwrap.dedent(
        """
        import tiny_kernel
        from perpscope.core.kernel_cache import kernel_cached
        before = kernel_cached(tiny_kernel.double)
        tiny_kernel.double(3)
        print(before, kernel_cached(tiny_kernel.double))
        """
    )
    env = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]),
    }
    first = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert first.stdout.split() == ["False", "True"]
    # a second process finds what the first compiled
    second = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert second.stdout.split() == ["True", "True"]
