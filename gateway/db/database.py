"""The database of one process (engine, session factory, reader) and of one request (``Db``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.db.engine import create_engine, session_factory
from gateway.db.reads import Reader, Row, Statement, create_reader
from gateway.settings import Settings


@dataclass(frozen=True)
class Database:
    """Built once per process by ``create_app``: the engine and its sessions for the ORM
    (every write, and the reads off the hot path), and the reader for the hot reads."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    reader: Reader

    @classmethod
    def connect(cls, settings: Settings) -> Database:
        engine = create_engine(settings)
        return cls(engine, session_factory(engine), create_reader(engine, settings))

    def request(self) -> Db:
        return Db(self)

    async def dispose(self) -> None:
        await self.reader.aclose()
        await self.engine.dispose()

    @contextmanager
    def statements(self) -> Iterator[list[str]]:
        """The SQL of every statement sent while the block runs, by either path."""
        seen: list[str] = []

        def by_engine(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            seen.append(statement)

        event.listen(self.engine.sync_engine, "before_cursor_execute", by_engine)
        self.reader.observers.append(seen.append)
        try:
            yield seen
        finally:
            self.reader.observers.remove(seen.append)
            event.remove(self.engine.sync_engine, "before_cursor_execute", by_engine)


@dataclass
class Db:
    """One request's access to the database: its ORM session, made on first use (a
    request served by the reader alone never makes one), and the reader."""

    database: Database
    _session: AsyncSession | None = field(default=None, repr=False)

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self.database.sessions()
        return self._session

    async def fetch(self, statement: Statement, params: Mapping[str, Any]) -> list[Row]:
        return await self.database.reader.fetch(statement, params)

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
