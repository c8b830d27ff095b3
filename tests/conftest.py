"""Fixtures: the database matrix, an app per test on a clean database, and Actions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import SQLModel
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.settings import Settings
from tests.support.actions import Actions
from tests.support.databases import (
    backend_id,
    check_reachable,
    create_schema,
    empty_tables,
    recreate_database,
    server_urls,
    sibling,
    unreachable,
)

FIXTURES = Path(__file__).parent / "fixtures"
TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256"
SERVERS = server_urls()
DATABASES = [pytest.param("sqlite", id="sqlite")] + [
    pytest.param(url, id=backend_id(url)) for url in SERVERS
]

MakeApp = Callable[..., Awaitable[Starlette]]


@pytest.fixture(scope="session")
def reachability() -> dict[str, str | None]:
    return check_reachable(SERVERS)


@pytest.fixture(scope="session")
def server_databases(reachability: dict[str, str | None]) -> dict[str, str]:
    """Each reachable server's test database, made fresh once per session."""
    prepared: dict[str, str] = {}
    for url, problem in reachability.items():
        if problem is None:
            test_url = sibling(url, "gw")
            asyncio.run(recreate_database(test_url))
            asyncio.run(create_schema(test_url))
            prepared[url] = test_url
    return prepared


@pytest.fixture(params=DATABASES)
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    reachability: dict[str, str | None],
    server_databases: dict[str, str],
) -> str:
    """One database of the matrix; SQLite is a new file per test."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    problem = reachability[request.param]
    if problem is not None:
        unreachable(request.param, problem)
    return server_databases[request.param]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """For tests of door-level behaviour that no database changes."""
    return f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"


def test_settings(database_url: str, **changes: Any) -> Settings:
    """Settings for tests: a fixed key and cheap argon2 parameters (hashing is not
    what these tests measure)."""
    base = Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        password_argon2_memory_kib=1024,
        password_argon2_time_cost=1,
        password_argon2_parallelism=1,
    )
    return base.with_changes(**changes)


@pytest.fixture
def settings(db_url: str) -> Settings:
    return test_settings(db_url)


@pytest.fixture
async def make_app(db_url: str) -> AsyncIterator[MakeApp]:
    """Build apps on the test database (clean at the first build) with changed settings.
    Each app runs its lifespan as uvicorn would, so its shutdown (pool, Redis clients)
    happens when the test ends."""
    async with AsyncExitStack() as running:

        async def make(**changes: Any) -> Starlette:
            app = create_app(test_settings(db_url, **changes))
            if not running_apps:
                engine = app.state.engine
                if engine.dialect.name == "sqlite":
                    async with engine.begin() as conn:
                        await conn.run_sync(SQLModel.metadata.create_all)
                else:
                    await empty_tables(engine)
            await running.enter_async_context(app.router.lifespan_context(app))
            running_apps.append(app)
            return app

        running_apps: list[Starlette] = []
        yield make


@pytest.fixture
async def app(make_app: MakeApp) -> Starlette:
    return await make_app()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield client


@pytest.fixture
def act(client: httpx.AsyncClient, app: Starlette) -> Actions:
    return Actions(client, app)
