"""The async engine for a settings URL, and the session factory built on it."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from gateway.settings import Settings

# The running request's SQL statement count, set only when GATEWAY_COUNT_SQL is on
# (the benchmark reads it; see gateway.middleware.SqlCountMiddleware).
statement_count: ContextVar[list[int] | None] = ContextVar("statement_count", default=None)

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)


def create_engine(settings: Settings, **overrides: Any) -> AsyncEngine:
    """One engine per process and URL; SQLite gets WAL and enforced foreign keys."""
    url = make_url(settings.database_url)
    options: dict[str, Any] = {"pool_pre_ping": settings.db_pool_pre_ping}
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            options["poolclass"] = NullPool
        # A file cannot go away and come back as a server can; a ping would only add a
        # statement (and a thread hop) to every request.
        options["pool_pre_ping"] = False
    else:
        options |= {
            "pool_size": settings.db_pool_size,
            "max_overflow": settings.db_max_overflow,
            "pool_timeout": settings.db_pool_timeout,
            "pool_recycle": settings.db_pool_recycle,
        }
        options["connect_args"] = connect_args(settings)
    engine = create_async_engine(url, **(options | overrides))
    if url.get_backend_name() == "sqlite":
        # A writer holding the file's lock makes others wait this long, then fail (→ 503).
        busy_timeout = f"PRAGMA busy_timeout={round(settings.db_statement_timeout * 1000)}"

        def set_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(busy_timeout)
            cursor.close()

        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "connect", set_busy_timeout)
    if settings.count_sql:
        event.listen(engine.sync_engine, "before_cursor_execute", _count_statement)
    return engine


def connect_args(settings: Settings, *, statements: bool = True) -> dict[str, Any]:
    """The driver's connect timeout for a server database, and with ``statements`` its
    statement timeout: an unreachable or stalled server gives a prompt error (→ 503),
    never a request that hangs. (A migration may rightly run longer than a request.)"""
    backend = make_url(settings.database_url).get_backend_name()
    args: dict[str, Any] = {}
    if backend == "postgresql":
        args["timeout"] = settings.db_connect_timeout
        if statements:
            args["command_timeout"] = settings.db_statement_timeout
    elif backend == "mysql":
        args["connect_timeout"] = max(1, round(settings.db_connect_timeout))
        if statements:
            args["read_timeout"] = settings.db_statement_timeout
    return args


def _count_statement(*_args: Any) -> None:
    counter = statement_count.get()
    if counter is not None:
        counter[0] += 1


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()
    register_sqlite_functions(dbapi_connection)


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """SQLite's lower() folds only ASCII; searches use this one (see services.filters)."""
    dbapi_connection.create_function("gw_lower", 1, _lower, deterministic=True)


def _lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (responses render after it)."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def outage(exc: BaseException) -> bool:
    """Whether an exception means the database cannot be reached right now (→ 503)."""
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(
            exc, sa_exc.OperationalError | sa_exc.InterfaceError
        )
    return isinstance(
        exc, sa_exc.TimeoutError | sa_exc.DisconnectionError | ConnectionError | TimeoutError
    ) or (isinstance(exc, OSError) and exc.errno is not None)
