"""``gateway serve``: uvicorn with the service's logging, workers and graceful shutdown."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from gateway.settings import Settings


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from gateway.observability.logs import logging_config
    from gateway.observability.metrics import multiprocess_dir

    settings = Settings.from_env()  # a bad value stops here, in one line
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_config": logging_config(settings),  # LOG_FORMAT/LOG_LEVEL, in every worker
        "access_log": False,  # gateway.access writes one line per request instead
        # SIGTERM: stop accepting, let requests in flight finish (at most this long),
        # then the lifespan disposes the pool.
        "timeout_graceful_shutdown": settings.shutdown_timeout,
    }
    # uvicorn re-raises the SIGTERM it handled once it has shut down gracefully; ending
    # here instead makes a clean stop exit 0, as process supervisors expect.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Several workers keep their metrics in files that any worker's /metrics adds up,
    # and hash passwords in slots they share.
    with multiprocess_dir(args.workers), hashing_slots(args.workers) as shared:
        if settings.password_hashing_threads == 0:
            # Each worker reads it from the environment it inherits (several) or here (one).
            threads = hashing_threads(args.workers, shared=shared)
            os.environ["PASSWORD_HASHING_THREADS"] = str(threads)
            settings = settings.with_changes(password_hashing_threads=threads)
        if args.workers > 1:
            # Each worker process builds its own app (and engine) from the environment.
            uvicorn.run(
                "gateway.cli.asgi:create",
                factory=True,
                workers=args.workers,
                # uvicorn kills a worker that does not answer its ping within this
                # (default 5 s): too short for a worker still importing on a busy machine.
                timeout_worker_healthcheck=60,
                **options,
            )
            return
        from gateway.cli.asgi import worker_app

        uvicorn.run(worker_app(settings), **options)


@contextmanager
def hashing_slots(workers: int) -> Iterator[bool]:
    """For several workers: a slot per core that their hashing threads share, in a
    temporary folder told to each worker through its environment (True when made)."""
    from gateway.auth.hashing import SLOTS_ENV, SLOTS_SUPPORTED, HashingSlots

    if workers == 1 or not SLOTS_SUPPORTED:
        yield False
        return
    with HashingSlots.made(os.cpu_count() or 1) as folder:
        os.environ[SLOTS_ENV] = str(folder)
        try:
            yield True
        finally:
            os.environ.pop(SLOTS_ENV, None)


def hashing_threads(workers: int, cores: int | None = None, *, shared: bool = False) -> int:
    """Hashing threads per worker: a thread per core when the workers share the cores
    through slots; otherwise the cores divided among them, at least one thread each."""
    cores = cores or os.cpu_count() or 1
    return cores if shared else max(1, cores // workers)
