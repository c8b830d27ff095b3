"""Reads on the hot path: SELECTs compiled once per dialect and run at the driver, one trip each.

The services write their read statements with SQLAlchemy Core, as everywhere else; a
``Reader`` compiles each statement once for the database at hand and then executes it
without SQLAlchemy's per-execution machinery (connection wrappers, result objects, type
processing of rows), which costs more CPU than the rest of a typical request:

- SQLite (a file): Python's ``sqlite3`` on a few reader threads, each with its own
  read-only connection; a whole read is one hop to a thread and back, so the event loop
  never waits on the file (WAL: readers never wait for writers either). SQLite hands
  the statement's rows over as one JSON array (below), because ``sqlite3`` lets go of
  the GIL around every row it steps to: with the event loop busy, each row of a page
  was a handover of the GIL between the two threads, and those handovers cost a
  110-row feed more than the rest of the request together;
- PostgreSQL: asyncpg's own pool and prepared-statement cache, without a ping or a reset
  per request (a read that meets a connection the server dropped has the pool replace
  its connections and reads once more);
- anything else (MySQL/MariaDB, an in-memory SQLite): the SQLAlchemy engine's own pool
  (``exec_driver_sql``), which is the same driver work with less gained.

Rows come back as plain tuples (or asyncpg records) in the statement's column order, as
the driver returns them: callers convert the few types that differ (SQLite's booleans
and timestamps). A database that cannot be reached raises ``DatabaseUnreachable``
(a ConnectionError, hence a 503); any other driver error is a bug and propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]
import orjson
from sqlalchemy import Select, func, select
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db.engine import register_sqlite_functions, statement_count
from gateway.settings import Settings

Row = Sequence[Any]
# Any SELECT, whatever its columns (SQLAlchemy 2.1's Select is generic in each column).
Statement = Select[*tuple[Any, ...]]


class DatabaseUnreachable(ConnectionError):
    """The database did not answer a read (refused, dropped, timed out, locked)."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A statement compiled for one dialect: its SQL and how to order its parameters."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    processors: tuple[Callable[[Any], Any] | None, ...]

    def arguments(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        for name, process in zip(self.names, self.processors, strict=True):
            value = params[name] if name in params else self.defaults[name]
            values.append(value if process is None or value is None else process(value))
        return tuple(values)


def prepare(statement: Statement, dialect: Dialect) -> Prepared:
    compiled = statement.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    binds = compiled.binds
    return Prepared(
        sql=compiled.string,
        names=names,
        defaults={name: binds[name].effective_value for name in names},
        processors=tuple(
            binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        ),
    )


class Reader(Protocol):
    observers: list[Callable[[str], None]]

    async def fetch(self, statement: Statement, params: Mapping[str, Any]) -> list[Row]:
        """Every row of ``statement`` with ``params``, in one trip to the database."""

    async def aclose(self) -> None: ...


class _Compiling:
    """Compiles each statement once; statements are built once (module level or per
    filter shape), so this cache stays as small as the set of shapes. ``observers`` see
    the SQL of every statement sent (tests and tools; the engine's own statements are
    seen through its ``before_cursor_execute`` event instead)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.observers: list[Callable[[str], None]] = []
        self._prepared: dict[Statement, Prepared] = {}

    def prepared(self, statement: Statement) -> Prepared:
        found = self._prepared.get(statement)
        if found is None:
            found = self._prepared[statement] = prepare(self.shaped(statement), self.dialect)
        return found

    def shaped(self, statement: Statement) -> Statement:
        """The statement as this reader sends it (as it is, unless a reader says otherwise)."""
        return statement

    def sending(self, prepared: Prepared) -> None:
        counter = statement_count.get()
        if counter is not None:
            counter[0] += 1
        for observe in self.observers:
            observe(prepared.sql)


class SqliteReader(_Compiling):
    """Python's sqlite3 on ``threads`` reader threads, one read-only connection each.

    Where SQLite has its JSON functions (3.38 and later, and most builds before), a
    statement is sent wrapped as ``SELECT json_group_array(json_array(<its columns>))
    FROM (<statement>)``: its rows come back as one value in one step of SQLite, and
    ``orjson`` turns that into the same rows (lists of the same values: JSON keeps
    SQLite's NULL, integers and text as they are; the schema stores no REAL or BLOB).
    The rows keep the statement's order: SQLite keeps a subquery's ORDER BY when the
    outer query aggregates with anything but count(), min() or max(), and every list
    read has a LIMIT, which keeps it too (``flattenSubquery`` and the OmitOrderBy
    optimisation in SQLite's select.c)."""

    def __init__(self, dialect: Dialect, path: str, *, threads: int, busy_timeout: float) -> None:
        super().__init__(dialect)
        self.as_one_value = _has_json_functions()
        self.path = path
        self.busy_timeout_ms = round(busy_timeout * 1000)
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="gateway-sqlite-read")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # check_same_thread=False only so aclose() may close it from the loop's thread
            # once every reader thread has finished.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
            conn.execute("PRAGMA query_only=ON")  # this path never writes
            register_sqlite_functions(conn)
            with self._lock:
                self._connections.append(conn)
            self._local.conn = conn
        return conn

    def shaped(self, statement: Statement) -> Statement:
        if not self.as_one_value:
            return statement
        rows = statement.subquery()
        return select(func.json_group_array(func.json_array(*rows.c)))

    def _run(self, sql: str, args: tuple[Any, ...]) -> list[Row]:
        rows = self._connection().execute(sql, args).fetchall()
        if not self.as_one_value:
            return rows
        whole: list[Row] = orjson.loads(rows[0][0])
        return whole

    async def fetch(self, statement: Statement, params: Mapping[str, Any]) -> list[Row]:
        prepared = self.prepared(statement)
        args = prepared.arguments(params)
        self.sending(prepared)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._threads, self._run, prepared.sql, args)
        except sqlite3.OperationalError as exc:  # locked past busy_timeout, file unreadable
            raise DatabaseUnreachable(str(exc)) from exc

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._threads.shutdown)
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()


class AsyncpgReader(_Compiling):
    """asyncpg's pool, opened at the first read (inside the serving event loop)."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        super().__init__(engine.dialect)
        _, params = engine.dialect.create_connect_args(engine.url)
        self.connect: dict[str, Any] = dict(params) | {
            "timeout": settings.db_connect_timeout,
            "command_timeout": settings.db_statement_timeout,
        }
        self.max_size = settings.db_pool_size + settings.db_max_overflow
        self.acquire_timeout = settings.db_pool_timeout
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def _open(self) -> Any:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    min_size=0, max_size=self.max_size, reset=_keep_as_is, **self.connect
                )
        return self._pool

    async def fetch(self, statement: Statement, params: Mapping[str, Any]) -> list[Row]:
        prepared = self.prepared(statement)
        args = prepared.arguments(params)
        self.sending(prepared)
        try:
            pool = self._pool or await self._open()
            try:
                return await self._fetch_on(pool, prepared.sql, args)
            except _DROPPED:
                # The server dropped the connection (a restart, a failover, a terminated
                # backend), and with it, most likely, every other connection in the pool:
                # have the pool replace them all, and read once more on a new one. A
                # SELECT is safe to repeat; a server that is really gone fails the
                # connect, and that is the 503.
                await pool.expire_connections()
                return await self._fetch_on(pool, prepared.sql, args)
        except _UNREACHABLE as exc:
            raise DatabaseUnreachable(f"{exc.__class__.__name__}: {exc}") from exc

    async def _fetch_on(self, pool: Any, sql: str, args: tuple[Any, ...]) -> list[Row]:
        # An idle connection is handed over at once; only a wait for one needs the
        # timeout (which costs asyncpg a task of its own).
        timeout = None if pool.get_idle_size() else self.acquire_timeout
        async with pool.acquire(timeout=timeout) as conn:
            try:
                rows: list[Row] = await conn.fetch(sql, *args)
            except _DROPPED:
                # Never back into the pool; one that asyncpg saw close is already out.
                with contextlib.suppress(asyncpg.InterfaceError):
                    conn.terminate()
                raise
            return rows

    async def aclose(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


# The connection in hand was dropped by the server. asyncpg reports it as such, or, when
# the server's farewell (an error message) arrived before the connection's end, as a
# protocol state it cannot leave: "cannot switch to state N; another operation (2) is in
# progress" (MagicStack/asyncpg#1069, sqlalchemy/sqlalchemy#13241).
_DROPPED = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.AdminShutdownError,  # the server is shutting down, or the backend was terminated
    asyncpg.InternalClientError,
)
_UNREACHABLE = (
    OSError,  # refused, unreachable
    TimeoutError,  # connect, statement or pool timeout
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,  # the server is starting up
    *_DROPPED,  # ... and again on the second try
)


@cache
def _has_json_functions() -> bool:
    """Whether this process's SQLite has json_group_array and json_array (asked once)."""
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute("SELECT json_group_array(json_array(1, 'a', NULL))").fetchall()
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()
    return True


async def _keep_as_is(_connection: Any) -> None:
    """asyncpg resets a connection's session state (a round trip) each time it goes back
    to the pool; the reader's single SELECTs in autocommit never change any."""


class EngineReader(_Compiling):
    """The SQLAlchemy engine's pool and driver; errors keep SQLAlchemy's own types."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine.dialect)
        self.engine = engine

    async def fetch(self, statement: Statement, params: Mapping[str, Any]) -> list[Row]:
        prepared = self.prepared(statement)  # counted by the engine's own listener
        async with self.engine.connect() as conn:
            result = await conn.exec_driver_sql(prepared.sql, prepared.arguments(params))
            return list(result.all())

    async def aclose(self) -> None:
        pass


def create_reader(engine: AsyncEngine, settings: Settings) -> Reader:
    """The fastest reader this database allows (see the module's docstring)."""
    url = make_url(settings.database_url)
    backend = url.get_backend_name()
    if backend == "sqlite" and url.database not in (None, "", ":memory:"):
        return SqliteReader(
            engine.dialect,
            url.database or "",
            # Reads are CPU work in SQLite: more threads than cores only queue them.
            threads=min(settings.db_pool_size, os.cpu_count() or 1),
            busy_timeout=settings.db_statement_timeout,
        )
    if backend == "postgresql" and url.get_driver_name() == "asyncpg":
        return AsyncpgReader(engine, settings)
    return EngineReader(engine)
