"""The reference app: bare Starlette, no auth, the gateway routes' SQL on the same driver.

It is the speed limit of this stack on this machine; the benchmark reports the gateway
as a fraction of it. Environment:

- ``CEILING_DATABASE_URL``: the benchmark database (any URL the gateway takes);
- ``CEILING_DRIVER``: ``engine`` (default: the gateway's own SQLAlchemy async engine, so
  the same driver, pool and pragmas; aiosqlite on SQLite) or ``sqlite3`` (Python's own
  sqlite3 module, one worker-thread hop per request, a connection per thread, no
  SQLAlchemy);
- ``CEILING_FEED_USER_ID``: whose feed ``/`` is (the user the gateway's scenarios sign in as);
- ``CEILING_COUNT_SQL``: ``true`` adds ``X-SQL-Statements`` (as ``GATEWAY_COUNT_SQL`` does).

Serve it with ``uvicorn --app-dir bench --factory ceiling:create``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import anyio.to_thread
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.db.engine import SQLITE_PRAGMAS, create_engine, statement_count
from gateway.middleware.sql_count import SqlCountMiddleware
from gateway.settings import Settings, to_async_url

# The statements SQLAlchemy renders for the gateway's services (templates._posts()).
POSTS = (
    "SELECT meme_template.id, meme_template.title, meme_template.description, "
    "meme_template.url, meme_template.user_id, meme_template.posted, "
    'meme_template.approved, "user".username '
    'FROM meme_template LEFT OUTER JOIN "user" ON meme_template.user_id = "user".id '
)
ONE = POSTS + "WHERE meme_template.id = {p}"
FEED = (
    POSTS + "WHERE meme_template.approved IS true OR meme_template.user_id = {p} "
    "ORDER BY meme_template.id LIMIT {p} OFFSET {p}"
)


def _posted(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return format_datetime(value.replace(tzinfo=UTC), usegmt=True)


def _template(row: Any) -> dict[str, Any]:
    tid, title, description, url, _user_id, posted, approved, username = row
    return {
        "id": tid,
        "title": title,
        "url": url,
        "description": description,
        "username": username,
        "user_id": username,
        "posted": _posted(posted),
        "approved": bool(approved),
    }


class EngineQueries:
    """The gateway's engine (same driver, pool and pragmas), raw SQL on a pooled connection."""

    def __init__(self, url: str, feed_user_id: int, *, count_sql: bool) -> None:
        self.engine = create_engine(Settings(database_url=url, count_sql=count_sql))
        self.feed_user_id = feed_user_id
        self.one_sql = _numbered(ONE, url)
        self.feed_sql = _numbered(FEED, url)

    async def one(self, template_id: int) -> Any:
        async with self.engine.connect() as conn:
            result = await conn.exec_driver_sql(self.one_sql, (template_id,))
            return result.first()

    async def feed(self, limit: int) -> list[Any]:
        async with self.engine.connect() as conn:
            result = await conn.exec_driver_sql(self.feed_sql, (self.feed_user_id, limit, 0))
            return list(result.all())

    async def close(self) -> None:
        await self.engine.dispose()


def _numbered(sql: str, url: str) -> str:
    """The driver's own placeholders: ``?`` for SQLite, ``$1, $2…`` for asyncpg."""
    if make_url(url).get_backend_name() == "sqlite":
        return sql.format(p="?")
    parts = sql.split("{p}")
    return "".join(part + (f"${i}" if i < len(parts) else "") for i, part in enumerate(parts, 1))


class ThreadQueries:
    """Python's sqlite3: each request is one hop to a worker thread, which runs the
    statement and fetches every row before coming back."""

    def __init__(self, url: str, feed_user_id: int) -> None:
        self.path = make_url(url).database
        self.feed_user_id = feed_user_id
        self.local = threading.local()
        self.one_sql = ONE.format(p="?")
        self.feed_sql = FEED.format(p="?")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self.local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path)
            for pragma in SQLITE_PRAGMAS:
                conn.execute(pragma)
            self.local.conn = conn
        return conn

    async def _run(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        counter = statement_count.get()
        if counter is not None:
            counter[0] += 1
        return await anyio.to_thread.run_sync(
            lambda: self._conn().execute(sql, params).fetchall()
        )

    async def one(self, template_id: int) -> Any:
        rows = await self._run(self.one_sql, (template_id,))
        return rows[0] if rows else None

    async def feed(self, limit: int) -> list[Any]:
        return await self._run(self.feed_sql, (self.feed_user_id, limit, 0))

    async def close(self) -> None:
        pass


def create() -> Starlette:
    url = to_async_url(os.environ["CEILING_DATABASE_URL"])
    driver = os.environ.get("CEILING_DRIVER", "engine")
    feed_user_id = int(os.environ.get("CEILING_FEED_USER_ID", "1"))
    count_sql = os.environ.get("CEILING_COUNT_SQL", "").lower() == "true"
    queries: ThreadQueries | EngineQueries
    if driver == "sqlite3":
        queries = ThreadQueries(url, feed_user_id)
    else:
        queries = EngineQueries(url, feed_user_id, count_sql=count_sql)

    async def one(request: Request) -> JSONResponse:
        row = await queries.one(request.path_params["template_id"])
        if row is None:
            return JSONResponse({"message": "No template found!"}, status_code=404)
        return JSONResponse({"template": _template(row)})

    async def feed(request: Request) -> JSONResponse:
        limit = int(request.query_params.get("limit", "100"))
        return JSONResponse({"templates": [_template(r) for r in await queries.feed(limit)]})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await queries.close()

    return Starlette(
        routes=[
            Route("/template/{template_id:int}", one),
            Route("/", feed),
            Route("/healthz", healthz),
        ],
        middleware=[Middleware(SqlCountMiddleware)] if count_sql else [],
        lifespan=lifespan,
    )
