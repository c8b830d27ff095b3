"""The gateway as uvicorn's factory: ``uvicorn --app-dir bench --factory gateway_app:create``."""

from __future__ import annotations

from starlette.applications import Starlette

from gateway.app import create_app
from gateway.settings import Settings


def create() -> Starlette:
    return create_app(Settings.from_env())
