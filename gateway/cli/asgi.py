"""The ASGI app as uvicorn's factory import string (``gateway.cli.asgi:create``), for workers."""

from __future__ import annotations

from starlette.applications import Starlette

from gateway.app import create_app
from gateway.observability.logs import lean_records
from gateway.settings import Settings


def create() -> Starlette:
    """Each worker process reads the same environment and builds its own app and engine."""
    lean_records()
    return create_app(Settings.from_env())
