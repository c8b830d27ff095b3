"""The ASGI app of a served worker, and uvicorn's factory import string for several
(``gateway.cli.asgi:create``)."""

from __future__ import annotations

import gc

from starlette.applications import Starlette

from gateway.app import create_app
from gateway.observability.logs import lean_records
from gateway.settings import Settings

# Net new container objects that start a pass of the collector over the youngest
# generation (Python's default: 700); see ``worker_app``.
YOUNG_GENERATION_THRESHOLD = 20_000


def worker_app(settings: Settings) -> Starlette:
    """The app one worker process serves, built once its imports are done.

    What exists by then (the modules, the schema, the compiled statements: about 110,000
    objects) lives as long as the process, so it is moved out of the garbage
    collector's sight (``gc.freeze``). Otherwise every full collection walked all of it
    again: about one every few seconds under GraphQL load, each a pause of tens of
    milliseconds for every request in flight.

    The youngest generation is collected after ``YOUNG_GENERATION_THRESHOLD`` net new
    objects, not Python's 700. A request leaves no reference cycle behind (its objects
    go by reference counting), so what that generation holds is mostly the objects of
    the requests in flight (a 110-row page is hundreds of them): with 16 in flight per
    worker, every 700 allocations started a pass that walked them all again and moved
    them on to the older generations, to be walked there too. Under 32 connections on
    the REST feed and the GraphQL screen that was about 8,000 passes and 2.3 s of 40 s
    of a worker's CPU (6 %); at 20,000, no pass at all under the same load. A cycle
    left behind (an exception's traceback, say) waits at most that many objects."""
    lean_records()
    app = create_app(settings)
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)
    return app


def create() -> Starlette:
    """Each worker process reads the same environment and builds its own app and engine."""
    return worker_app(Settings.from_env())
