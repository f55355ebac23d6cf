"""A real S3-compatible server on 127.0.0.1 for tests: moto's standalone server, one per test session.

The fixture points the standard AWS environment (``AWS_ENDPOINT_URL``, credentials, region) at it, so
perpscope's object-store lake, polars and subprocesses (importers, cluster workers) all reach it the
way they would reach AWS, MinIO or R2. Each test gets a bucket of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from unittest import mock

import pytest

ENV = {
    "AWS_ACCESS_KEY_ID": "perpscope-test",
    "AWS_SECRET_ACCESS_KEY": "perpscope-test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server on loopback, with the AWS environment pointing at it."""
    # a pinned dev dependency: imported plainly, so a broken install fails instead of skipping
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        with mock.patch.dict(os.environ, {**ENV, "AWS_ENDPOINT_URL": url}):
            yield url
    finally:
        server.stop()


@pytest.fixture
def s3_lake_url(s3_endpoint: str) -> str:
    """``s3://<fresh bucket>/lake`` on the loopback server."""
    import boto3

    bucket = f"t-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    return f"s3://{bucket}/lake"
