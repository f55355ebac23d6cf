"""perpscope.api — the read-only HTTP API (FastAPI) over the store and the computations.

:func:`create_app` builds the application; ``perpscope serve`` runs it with the dashboard mounted.
Routes, parameters, limits, the cache's bounds and the access rules: ``docs/api.md`` (and the OpenAPI
schema at ``/openapi.json``).
"""

from perpscope.api.app import create_app
from perpscope.api.config import ApiConfig
from perpscope.api.params import ApiError, Limits
from perpscope.api.source import DataSource

__all__ = ["ApiConfig", "ApiError", "DataSource", "Limits", "create_app"]
