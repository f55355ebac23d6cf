"""Fixtures of the store tests."""

from __future__ import annotations

import pytest
from tests.store.small_store import fill_small

from perpscope.store import Lake


@pytest.fixture
def small(lake: Lake) -> Lake:
    """:func:`tests.store.small_store.fill_small` in an empty store."""
    return fill_small(lake)


from tests.s3_server import s3_endpoint, s3_lake_url  # noqa: E402,F401  (fixtures of the S3 lake tests)
