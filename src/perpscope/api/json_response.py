"""JSON answers of the API: orjson (fast, numpy-aware, NaN → null)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


def encode(content: Any) -> bytes:
    """``content`` as JSON bytes (numpy arrays and scalars as numbers, non-string keys as strings)."""
    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


class OrjsonResponse(JSONResponse):
    """JSON via orjson: fast, numpy-aware, NaN → null."""

    def render(self, content: Any) -> bytes:
        return encode(content)


def error(status: int, message: str) -> OrjsonResponse:
    """The API's error answer: ``{"error": message}`` with ``status``."""
    return OrjsonResponse({"error": message}, status)
