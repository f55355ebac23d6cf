"""Whether numba's on-disk cache already holds a compiled kernel, so a command can say before a first
run that it will compile (tens of seconds once per machine and perpscope version) instead of sitting
silent.

numba has no public call for this: the check reads the dispatcher's cache index path (numba 0.68's
``FunctionCache._cache_file._index_path``, the ``.nbi`` file it writes beside the sources or under
``$NUMBA_CACHE_DIR``). Anything unexpected gives ``None`` (unknown), never an error.
"""

from __future__ import annotations

import os
from typing import Any


def kernel_cached(dispatcher: Any) -> bool | None:
    """True when ``dispatcher`` (an ``@njit(cache=True)`` function) has a cache index on disk, False when
    it has none (its first call compiles), None when this numba does not say."""
    index = getattr(getattr(getattr(dispatcher, "_cache", None), "_cache_file", None), "_index_path", None)
    return os.path.exists(index) if isinstance(index, str) else None
