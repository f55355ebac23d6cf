"""Opening a lake by where it is: a local folder, or an object-store URL (``s3://bucket/prefix``)."""

from __future__ import annotations

from pathlib import Path

from perpscope.store.lake import Lake


def open_lake(location: str | Path) -> Lake:
    """The lake at ``location``: :class:`~perpscope.store.object_lake.ObjectLake` for ``s3://…``
    (endpoint and credentials the standard AWS way, ``$AWS_ENDPOINT_URL`` for MinIO, R2 or a test
    server), else the local :class:`Lake`. Both give the same records through the same readers."""
    from perpscope.store.object_lake import is_object_url  # keeps s3fs out of local runs

    if is_object_url(str(location)) and isinstance(location, str):
        from perpscope.store.object_lake import ObjectLake

        return ObjectLake(location)
    return Lake(location)


#: Overrides where local state of ``s3://`` lakes goes (default ``$XDG_STATE_HOME/perpscope/lakes``).
STATE_ENV = "PERPSCOPE_STATE_DIR"


def local_side_dir(location: str | Path) -> Path:
    """The local folder for what a command keeps beside the lake at ``location`` rather than in it
    (``collect``'s status file, ``download``'s archive files): the lake's own folder for a local lake;
    for ``s3://bucket/prefix``, ``<state>/s3/bucket/prefix`` on this machine, where ``<state>`` is
    ``$PERPSCOPE_STATE_DIR``, else ``$XDG_STATE_HOME/perpscope/lakes`` (``~/.local/state/…``).

    Such state is per machine by nature (a collector's health, a download cache); the lake holds the
    data every machine shares.
    """
    import os

    from perpscope.store.object_lake import is_object_url

    if not is_object_url(str(location)):
        return Path(location)
    scheme, key = str(location).rstrip("/").split("://", 1)
    base = os.environ.get(STATE_ENV)
    if not base:
        xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        base = str(Path(xdg) / "perpscope" / "lakes")
    return Path(base) / scheme / key
