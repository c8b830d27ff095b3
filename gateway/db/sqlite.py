"""Python's own sqlite3 behind SQLAlchemy's async engine: one thread hop per statement.

aiosqlite (the usual driver) hops to its thread and back four times per statement
(cursor, execute, fetchall, close), each hop a queue put, a thread wake-up and a
loop wake-up. Here a statement runs and all its rows are fetched in one hop to the
connection's own thread; the event loop never runs a sqlite3 call itself. SQLAlchemy's
aiosqlite dialect drives it unchanged (it is passed as the dialect's DBAPI module).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy.util.concurrency import await_

T = TypeVar("T")


class _SQLiteCursor:
    """A DBAPI cursor whose every statement is one hop to the connection's thread: the
    statement runs and all its rows are fetched there, then read here from memory."""

    arraysize = 1

    def __init__(self, connection: _SQLiteConnection) -> None:
        self._connection = connection
        self._rows: deque[Any] = deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    def execute(self, operation: str, parameters: Sequence[Any] = ()) -> None:
        self._store(self._connection._call(_run, self._connection._sqlite, operation, parameters))

    def executemany(self, operation: str, seq_of_parameters: Sequence[Sequence[Any]]) -> None:
        connection = self._connection
        self._store(connection._call(_run_many, connection._sqlite, operation, seq_of_parameters))

    def _store(self, outcome: tuple[Any, list[Any], int, int | None]) -> None:
        self.description, rows, self.rowcount, self.lastrowid = outcome
        self._rows = deque(rows)

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = self._rows
        return [rows.popleft() for _ in range(min(size or self.arraysize, len(rows)))]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    def close(self) -> None:
        self._rows.clear()

    async def _async_soft_close(self) -> None:
        """SQLAlchemy's async result asks adapted cursors for this; rows are in memory."""

    def setinputsizes(self, *sizes: Any) -> None:
        pass

    def __iter__(self) -> Any:
        while self._rows:
            yield self._rows.popleft()


def _run(
    conn: sqlite3.Connection, operation: str, parameters: Sequence[Any]
) -> tuple[Any, list[Any], int, int | None]:
    cursor = conn.execute(operation, parameters)
    try:
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _run_many(
    conn: sqlite3.Connection, operation: str, seq_of_parameters: Sequence[Sequence[Any]]
) -> tuple[Any, list[Any], int, int | None]:
    cursor = conn.executemany(operation, seq_of_parameters)
    try:
        return cursor.description, [], cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class _SQLiteConnection:
    """A sqlite3 connection owned by one thread; the event loop only waits for it."""

    def __init__(self, sqlite: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
        self._sqlite = sqlite
        self._thread = thread

    def _call(self, func: Callable[..., T], *args: Any) -> T:
        future = asyncio.get_running_loop().run_in_executor(self._thread, func, *args)
        return await_(future)

    def cursor(self, server_side: bool = False) -> _SQLiteCursor:
        return _SQLiteCursor(self)

    def execute(self, operation: str, parameters: Sequence[Any] = ()) -> _SQLiteCursor:
        cursor = self.cursor()
        cursor.execute(operation, parameters)
        return cursor

    def commit(self) -> None:
        self._call(self._sqlite.commit)

    def rollback(self) -> None:
        if self._sqlite.in_transaction:
            self._call(self._sqlite.rollback)

    def close(self) -> None:
        try:
            self._call(self._sqlite.close)
        finally:
            self._thread.shutdown(wait=False)

    def terminate(self) -> None:
        """What the pool calls, without awaiting, for a connection whose statement was
        cancelled (GraphQL cancels sibling fields when one fails): the connection's own
        thread closes it once the statement in hand is done."""
        self._thread.submit(self._sqlite.close)
        self._thread.shutdown(wait=False)

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._call(lambda: self._sqlite.create_function(*args, **kwargs))

    @property
    def isolation_level(self) -> str | None:
        return self._sqlite.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._call(setattr, self._sqlite, "isolation_level", value)

    @property
    def in_transaction(self) -> bool:
        return self._sqlite.in_transaction


class ThreadedSQLite:
    """The DBAPI "module" SQLAlchemy's aiosqlite dialect drives, built on Python's own
    sqlite3: one hop to a thread per statement (aiosqlite takes four: cursor, execute,
    fetchall, close), never a blocking call on the event loop."""

    paramstyle = "qmark"
    has_stop = False

    def __init__(self) -> None:
        for name in (
            "DatabaseError", "Error", "IntegrityError", "InterfaceError", "NotSupportedError",
            "OperationalError", "ProgrammingError", "sqlite_version", "sqlite_version_info",
            "PARSE_COLNAMES", "PARSE_DECLTYPES", "Binary",
        ):
            setattr(self, name, getattr(sqlite3, name))
        self.sqlite = sqlite3

    def connect(self, *args: Any, **kwargs: Any) -> _SQLiteConnection:
        thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite")
        kwargs["check_same_thread"] = False  # opened on the loop's behalf, used only by `thread`
        future = asyncio.get_running_loop().run_in_executor(
            thread, lambda: sqlite3.connect(*args, **kwargs)
        )
        try:
            return _SQLiteConnection(await_(future), thread)
        except BaseException:
            thread.shutdown(wait=False)
            raise
