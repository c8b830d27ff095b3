"""``gateway serve``: uvicorn with the service's logging, workers and graceful shutdown."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from gateway.settings import Settings


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from gateway.observability.logs import logging_config
    from gateway.observability.metrics import multiprocess_dir

    settings = Settings.from_env()  # a bad value stops here, in one line
    if settings.password_hashing_threads == 0:
        # Each worker reads it from the environment it inherits (several) or here (one).
        threads = hashing_threads(args.workers)
        os.environ["PASSWORD_HASHING_THREADS"] = str(threads)
        settings = settings.with_changes(password_hashing_threads=threads)
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
    # Several workers keep their metrics in files that any worker's /metrics adds up.
    with multiprocess_dir(args.workers):
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


def hashing_threads(workers: int, cores: int | None = None) -> int:
    """The cores shared among the workers, for hashing: at least one thread each."""
    return max(1, (cores or os.cpu_count() or 1) // workers)
