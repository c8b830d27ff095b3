"""Prometheus metrics: what is counted, and how one scrape sees every worker's counts."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.observability.turns import OncePerTurn

# With several workers, `gateway serve` sets PROMETHEUS_MULTIPROC_DIR before any worker
# imports this module: prometheus-client then keeps each value in a file per process
# there, and a scrape answered by any worker adds up every worker's files.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
if os.environ.get(MULTIPROC_ENV):  # the metrics below open their files there at once
    Path(os.environ[MULTIPROC_ENV]).mkdir(parents=True, exist_ok=True)

REQUESTS = Counter(
    "gateway_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LATENCY = Histogram(
    "gateway_http_request_duration_seconds",
    "Time from the request's arrival to its last response byte, by route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
IN_FLIGHT = Gauge(
    "gateway_http_requests_in_flight",
    "HTTP requests being answered right now (summed over live workers).",
    multiprocess_mode="livesum",
)
GRAPHQL_OPERATIONS = Counter(
    "gateway_graphql_operations",
    "GraphQL operations executed, by operation name.",
    ["operation"],
)
LOGINS = Counter(
    "gateway_logins",
    "Login attempts through either door, by outcome (success, failure, throttled).",
    ["outcome"],
)
POOL_CHECKED_OUT = Gauge(
    "gateway_db_pool_checked_out",
    "Database connections in use right now (summed over live workers).",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "gateway_db_pool_size",
    "Connections each pool keeps open (summed over live workers; overflow comes on top).",
    multiprocess_mode="livesum",
)

# Operation names come from clients: a bounded set of label values keeps one client
# from growing every worker's memory and every scrape without limit.
MAX_OPERATION_NAMES = 200
OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_operation_names: set[str] = set()


# What this process counted during the current turn of its event loop, written to the
# metrics at the start of the next turn (or before a scrape): a value of a series (it
# has ``inc``) -> the amount to add. With several workers every write to a value is a
# lock and a write to a shared file; a turn answers many requests under load, and each
# request counted one at a time made five such writes (its count, its latency's sum and
# bucket, the in-flight gauge up and down), a fifth of the time of a /healthz.
_pending: dict[Any, float] = {}
_in_flight = 0
_in_flight_written = 0

# The labelled series of each (method, route, status) seen: ``labels()`` costs a lock and
# a lookup of its own. Route labels are route templates, so few. A latency series is its
# sum and its buckets (``observe`` adds to both).
_series: dict[tuple[str, str, int], tuple[Any, Any, list[Any]]] = {}


def request_started() -> None:
    global _in_flight
    _in_flight += 1
    _next_turn.ask()


def count_request(method: str, route: str, status: int, seconds: float) -> None:
    """One answered request: its count and latency, and one fewer in flight."""
    global _in_flight
    key = (method, route, status)
    series = _series.get(key)
    if series is None:
        latency = LATENCY.labels(method, route)
        series = _series[key] = (
            REQUESTS.labels(method, route, str(status)), latency._sum, latency._buckets
        )
    count, total, buckets = series
    bucket = buckets[bisect_left(LATENCY_BUCKETS, seconds)]  # as observe(): le is <=
    _pending[count] = _pending.get(count, 0) + 1
    _pending[total] = _pending.get(total, 0) + seconds
    _pending[bucket] = _pending.get(bucket, 0) + 1
    _in_flight -= 1
    _next_turn.ask()


def _write_counts() -> None:
    global _in_flight_written
    while _pending:
        value, amount = _pending.popitem()
        value.inc(amount)
    if _in_flight != _in_flight_written:
        IN_FLIGHT.set(_in_flight)
        _in_flight_written = _in_flight


_next_turn = OncePerTurn(_write_counts)


def write_counts() -> None:
    """Add what this process counted since the last write to its metrics, now."""
    _next_turn.run()


def count_graphql_operation(name: str | None) -> None:
    GRAPHQL_OPERATIONS.labels(operation_label(name)).inc()


def operation_label(name: str | None) -> str:
    """The label for a GraphQL operation name: ``anonymous``, the name, or ``other``
    once MAX_OPERATION_NAMES distinct names have been seen by this process."""
    if not name:
        return "anonymous"
    if not OPERATION_NAME.fullmatch(name):
        return "other"
    if name not in _operation_names:
        if len(_operation_names) >= MAX_OPERATION_NAMES:
            return "other"
        _operation_names.add(name)
    return name


def count_login(outcome: str) -> None:
    """``success``, ``failure`` (a password was verified, or a dummy for an unknown
    name) or ``throttled`` (refused before any password work)."""
    LOGINS.labels(outcome).inc()


def instrument_pool(engine: AsyncEngine) -> None:
    """Follow the engine's pool: size now, connections in use as they come and go."""
    pool: Any = engine.sync_engine.pool
    size = getattr(pool, "size", None)
    POOL_SIZE.set(size() if callable(size) else 0)
    checked_out = getattr(pool, "checkedout", None)
    if not callable(checked_out):
        return
    # Read from the pool itself rather than counted +1/-1: a connection that fails while
    # the database is down is checked in without ever having been checked out.
    # The checkin event comes just before the connection is back in the pool.
    event.listen(engine.sync_engine, "checkout", lambda *_: POOL_CHECKED_OUT.set(checked_out()))
    event.listen(
        engine.sync_engine, "checkin", lambda *_: POOL_CHECKED_OUT.set(max(0, checked_out() - 1))
    )


def exposition() -> bytes:
    """The Prometheus text of this process, or of every worker in multiprocess mode."""
    write_counts()
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def forget_process() -> None:
    """At a worker's exit: write what it counted last, and drop its live gauges (pool
    use) from the shared folder."""
    write_counts()
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


@contextmanager
def multiprocess_dir(workers: int) -> Iterator[str | None]:
    """For ``gateway serve``: the folder for every worker's metric files, set in the
    environment before the workers start. An operator's PROMETHEUS_MULTIPROC_DIR is used,
    cleared of earlier runs' files (prometheus-client requires it; this process's own
    files, opened when this module was imported, stay). Otherwise several workers get
    a temporary folder, removed when the server stops; one worker needs none."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        mine = f"_{os.getpid()}.db"
        for stale in Path(given).glob("*.db"):
            if not stale.name.endswith(mine):
                stale.unlink()
        yield given
        return
    if workers == 1:
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="gateway-metrics-"))
    os.environ[MULTIPROC_ENV] = str(folder)
    try:
        yield str(folder)
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(folder, ignore_errors=True)
