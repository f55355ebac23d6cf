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
