"""Fill a fresh benchmark database: 1 admin, 20 users, 2,000 templates (half approved).

Everything but the password salts is deterministic, so two runs load the same rows.
Usage: ``python bench/seed.py DATABASE_URL`` (a SQLite file is replaced; a PostgreSQL
or MySQL database is dropped and created again).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from gateway.db.models import MemeTemplate, User
from gateway.services.users import passwords_for
from gateway.settings import Settings, to_async_url

USERS = 20
TEMPLATES = 2000
ADMIN = "admin"
EPOCH = datetime(2020, 10, 12, 4, 51, 27, tzinfo=UTC)
NAMESPACE = uuid.UUID("6f1c1d3e-6c35-4a43-9a53-1f6bd2a1c0de")


def username(n: int) -> str:
    return f"user{n:02d}"


def password_of(name: str) -> str:
    return f"{name}-bench-password"


async def recreate(url: str) -> None:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        return
    name = parsed.database
    assert name and name.replace("_", "").isalnum(), name
    server = parsed.set(database="postgres" if backend == "postgresql" else "")
    engine = create_async_engine(server, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            if backend == "postgresql":
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await conn.execute(text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8'"))
            else:
                await conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
                await conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    finally:
        await engine.dispose()


async def seed(url: str) -> None:
    url = to_async_url(url)
    await recreate(url)
    # The SPEC's default argon2 parameters: the login scenario measures exactly those.
    passwords = passwords_for(Settings())
    names = [ADMIN] + [username(n) for n in range(1, USERS + 1)]
    hashes = await asyncio.gather(*(passwords.hash(password_of(n)) for n in names))
    users = [
        {
            "id": i + 1,
            "public_id": str(uuid.uuid5(NAMESPACE, name)),
            "username": name,
            "password": hashed,
            "admin": name == ADMIN,
            "token_version": 0,
            "created_at": EPOCH.replace(tzinfo=None),
        }
        for i, (name, hashed) in enumerate(zip(names, hashes, strict=True))
    ]
    templates = [
        {
            "id": i,
            "title": f"Template {i}",
            "description": f"Benchmark template number {i}, owned by {username(i % USERS + 1)}.",
            "url": f"https://memes.example.com/{i}.png",
            "user_id": i % USERS + 2,  # user01..user20 (ids 2..21)
            "posted": (EPOCH + timedelta(minutes=i)).replace(tzinfo=None),
            "approved": i % 2 == 0,
        }
        for i in range(1, TEMPLATES + 1)
    ]
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
            await conn.execute(insert(User.__table__), users)  # type: ignore[attr-defined]
            await conn.execute(insert(MemeTemplate.__table__), templates)  # type: ignore[attr-defined]
            if engine.dialect.name == "postgresql":
                for table in ("user", "meme_template"):
                    await conn.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                        f"(SELECT max(id) FROM \"{table}\"))"
                    ))
        if engine.dialect.name == "sqlite":
            async with engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                await conn.exec_driver_sql("ANALYZE")
        elif engine.dialect.name == "postgresql":
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.exec_driver_sql("VACUUM ANALYZE")
    finally:
        await engine.dispose()


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/seed.py DATABASE_URL")
    asyncio.run(seed(sys.argv[1]))
    print(f"seeded {1 + USERS} users and {TEMPLATES} templates into {sys.argv[1]}")


if __name__ == "__main__":
    main()
