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


#: A module of two cached kernels, one calling the other, and a counter of numba's compiles.
KERNELS = """
from numba import njit

@njit(cache=True)
def double(x):
    return 2 * x

@njit(cache=True)
def quadruple(x):
    return double(double(x))
"""

LOAD = """
import time
from numba.core import event

compiles = []

class Count(event.Listener):
    def on_start(self, e):
        compiles.append(e.data["dispatcher"].py_func.__name__)

    def on_end(self, e):
        pass

event.register("numba:compile", Count())
import two_kernels
from perpscope.core.kernel_cache import cached_dispatchers, load_cached_kernels, start_loading

found = sorted(d.py_func.__name__ for d in cached_dispatchers(["two_kernels"]))
job = start_loading(["two_kernels"]).wait(60)
loaded = {d.py_func.__name__: len(d.overloads) for d in cached_dispatchers(["two_kernels"])}
print(found, job.loaded, job.error, job.ended is not None, loaded, compiles)
"""


def _run(script: str, tmp_path: Path) -> str:
    env = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]),
    }
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_kernels_load_from_the_cache_without_compiling_and_a_cold_cache_compiles_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "two_kernels.py").write_text(KERNELS)
    # an empty cache: nothing to load, and loading compiles nothing (each kernel compiles at its call)
    cold = _run(LOAD, tmp_path)
    assert cold == "['double', 'quadruple'] 0 None True {'double': 0, 'quadruple': 0} []"
    # a first call compiles both (the callee for its caller) and caches them
    _run("import two_kernels; print(two_kernels.quadruple(3))", tmp_path)
    # a fresh process loads both from the cache in the thread, compiling nothing, and they answer
    warm = _run(LOAD + "print(two_kernels.quadruple(3), compiles)", tmp_path)
    assert warm.splitlines() == [
        "['double', 'quadruple'] 2 None True {'double': 1, 'quadruple': 1} []",
        "12 []",
    ]


def test_a_changed_source_leaves_its_stale_entries_alone(tmp_path: Path) -> None:
    """The index of another version of the source (numba keys it by the file's time stamp and size) is
    not loaded: the kernel compiles at its first call, as numba would have it."""
    module = tmp_path / "two_kernels.py"
    module.write_text(KERNELS)
    _run("import two_kernels; print(two_kernels.quadruple(3))", tmp_path)
    module.write_text(KERNELS.replace("2 * x", "x + x") + "\n# edited\n")
    got = _run(LOAD, tmp_path)
    assert got == "['double', 'quadruple'] 0 None True {'double': 0, 'quadruple': 0} []"


def test_loading_ahead_never_fails_the_caller() -> None:
    """A package that cannot be imported: the loading stops with its error kept, nothing raised (the
    kernels would load at their first call; a batch goes on)."""
    from perpscope.core.kernel_cache import start_loading

    job = start_loading(["perpscope_no_such_package"]).wait(10)
    assert isinstance(job.error, ModuleNotFoundError)
    assert job.loaded == 0 and job.ended is not None and job.thread is None
