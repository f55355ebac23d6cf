"""How the API application runs: the store, the token, the hosts it answers for, the limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from perpscope.api.answer_cache import DEFAULT_BYTES, DEFAULT_COMPUTING, DEFAULT_ENTRIES
from perpscope.api.model_views import CascadeProvider
from perpscope.api.params import Limits
from perpscope.store import Lake


@dataclass(frozen=True)
class ApiConfig:
    """How the API runs.

    Attributes
    ----------
    data_dir : Path
        The store to read (its folder; for an ``s3://`` lake, the key prefix: ``lake`` is then given).
    lake : Lake, optional
        The store itself when it is not the folder ``data_dir`` (an ``s3://`` lake, ``perpscope serve``).
    token : str, optional
        Required on every ``/api`` request when set (``perpscope serve`` sets one for non-loopback binds).
    allowed_hosts : frozenset of str, optional
        ``Host`` header values (``name:port``) the app answers; any other host, or a browser ``Origin``
        other than ``http://`` one of them, gets 403. ``perpscope serve`` sets the loopback names
        (:func:`perpscope.api.access.loopback_hosts`) when it binds to loopback without a token, which
        shuts out DNS rebinding (a web page whose name resolves to 127.0.0.1). ``None``: every host.
    limits : Limits
        Range, page and response size limits.
    max_response_bytes : int
        Answers larger than this are refused with 413 (ask for a shorter range or fewer points).
    cache_bytes, cache_entries : int
        Bounds of the answer cache (:class:`perpscope.api.source.DataSource`).
    computing : int
        Computations running at once; further requests wait their turn (bounds the peak memory).
    cascade : callable, optional
        ``(venue, canonical, end_ms) -> fragility frame``; without it the cascade view says unavailable.
    precompute : bool
        Compute the symbols' whole-history readings and the home screener in the background at start
        (:func:`perpscope.api.views.precompute`; ``perpscope serve`` does).
    """

    data_dir: Path
    token: str | None = None
    allowed_hosts: frozenset[str] | None = None
    limits: Limits = field(default_factory=Limits)
    max_response_bytes: int = 8_000_000
    cache_bytes: int = DEFAULT_BYTES
    cache_entries: int = DEFAULT_ENTRIES
    computing: int = DEFAULT_COMPUTING
    cascade: CascadeProvider | None = None
    lake: Lake | None = None
    precompute: bool = False
