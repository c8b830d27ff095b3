"""The ASGI app of a served worker, and uvicorn's factory import string for several
(``gateway.cli.asgi:create``)."""

from __future__ import annotations

import gc

from starlette.applications import Starlette

from gateway.app import create_app
from gateway.observability.logs import lean_records
from gateway.settings import Settings


def worker_app(settings: Settings) -> Starlette:
    """The app one worker process serves, built once its imports are done.

    What exists by then (the modules, the schema, the compiled statements: about 110,000
    objects) lives as long as the process, so it is moved out of the garbage
    collector's sight (``gc.freeze``). Otherwise every full collection walked all of it
    again: about one every few seconds under GraphQL load, each a pause of tens of
    milliseconds for every request in flight."""
    lean_records()
    app = create_app(settings)
    gc.collect()
    gc.freeze()
    return app


def create() -> Starlette:
    """Each worker process reads the same environment and builds its own app and engine."""
    return worker_app(Settings.from_env())
