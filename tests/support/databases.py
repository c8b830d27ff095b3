"""The test database matrix: SQLite always, plus every URL in GATEWAY_TEST_DATABASES.

A listed server that cannot be reached skips its cases with the reason, except on CI
(``CI=true``), where it fails the run (``tests.support.machine.unavailable``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

import gateway.db.models  # noqa: F401  (registers the tables)
from gateway.settings import to_async_url
from tests.support.machine import unavailable

TABLES = ("application", "meme_template", "user")


def server_urls() -> list[str]:
    raw = os.environ.get("GATEWAY_TEST_DATABASES", "")
    return [to_async_url(u.strip()) for u in raw.split(",") if u.strip()]


def backend_id(url: str) -> str:
    return make_url(url).get_backend_name()


def unreachable(url: str, reason: str) -> None:
    unavailable(f"{backend_id(url)} at {make_url(url).render_as_string()} is unreachable: {reason}")


def sibling(url: str, suffix: str) -> str:
    """The URL of a database beside ``url`` named ``<name>_<suffix>``."""
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{suffix}").render_as_string(
        hide_password=False
    )


def server_admin_url(url: str) -> URL:
    """The same server, without naming the database (PostgreSQL's ``postgres``)."""
    parsed = make_url(url)
    return parsed.set(database="postgres" if parsed.get_backend_name() == "postgresql" else "")


async def recreate_database(url: str) -> None:
    """Drop and create the server database ``url`` names, empty, in UTF-8."""
    parsed = make_url(url)
    name = parsed.database
    assert name and name.replace("_", "").isalnum(), name
    engine = create_async_engine(
        server_admin_url(url), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as conn:
            if parsed.get_backend_name() == "postgresql":
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await conn.execute(text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8'"))
            else:
                await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
                await conn.execute(
                    text(
                        f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                        "COLLATE utf8mb4_unicode_ci"
                    )
                )
    finally:
        await engine.dispose()


async def create_schema(url: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
    finally:
        await engine.dispose()


async def empty_tables(engine: AsyncEngine) -> None:
    """Remove every row and reset the id counters, quicker than a new schema."""
    async with engine.begin() as conn:
        backend = engine.dialect.name
        if backend == "postgresql":
            names = ", ".join(f'"{t}"' for t in TABLES)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        elif backend in {"mysql", "mariadb"}:
            await conn.execute(text("SET FOREIGN_KEY_CHECKS = 0"))
            for table in TABLES:
                await conn.execute(text(f"TRUNCATE TABLE `{table}`"))
            await conn.execute(text("SET FOREIGN_KEY_CHECKS = 1"))
        else:
            for table in TABLES:
                await conn.execute(text(f'DELETE FROM "{table}"'))


def check_reachable(urls: Iterable[str]) -> dict[str, str | None]:
    """url -> None when reachable, else why not (checked once per session)."""

    async def probe(url: str) -> str | None:
        # The server must answer; the named database itself need not exist yet.
        engine = create_async_engine(server_admin_url(url), poolclass=NullPool)
        try:
            async with asyncio.timeout(10):
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure to connect is a reason to report
            return f"{exc.__class__.__name__}: {exc}".splitlines()[0]
        finally:
            await engine.dispose()
        return None

    return {url: asyncio.run(probe(url)) for url in urls}
