"""Fixtures of the cluster tests: the loopback S3 server, and one real two-worker LocalCluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.s3_server import s3_endpoint, s3_lake_url  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def dask_client(s3_endpoint: str) -> Iterator[Any]:  # noqa: F811
    """A ``distributed.Client`` on a ``LocalCluster`` of two single-threaded worker processes (started
    after the S3 server, so the workers inherit its environment)."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
