"""The API fuzzed against its own OpenAPI schema (schemathesis): no input gives a 5xx.

Bounded: a fixed number of generated requests per operation, no shrinking deadline; over the demo store.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis  # a pinned dev dependency: a broken install fails here, it does not skip
from hypothesis import HealthCheck, Phase, given, settings


@pytest.fixture(scope="module")
def api_schema(demo_lake):  # type: ignore[no-untyped-def]
    from perpscope.cli.serve_cmd import build_app

    # the app as served beyond loopback (no Host check; the Host rules are tested in test_access.py): the
    # fuzzer's requests name its own test host
    return schemathesis.openapi.from_asgi(
        "/openapi.json", build_app(Path(demo_lake.root), port=8000, host="0.0.0.0")
    )


def test_no_server_errors(api_schema) -> None:  # type: ignore[no-untyped-def]
    ops = [r.ok() for r in api_schema.get_all_operations()]
    assert len(ops) >= 10  # every route is in the schema
    for op in ops:

        @given(case=op.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def one(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call()
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} {case.query}: {response.text[:300]}"
            )
            ctype = response.headers.get("content-type") or response.headers.get("Content-Type") or [""]
            assert "application/json" in (ctype[0] if isinstance(ctype, list) else ctype)

        one()
