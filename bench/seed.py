"""The benchmark's rows: a fresh database holding users and templates, given or standard.

The standard rows have the shape the original app was measured with: two users (``alice``,
and ``bob``, an admin) and 200 templates, ids 1–100 approved (bob's), 101–110 alice's
unapproved ones, 111–200 bob's unapproved ones; so alice's feed is 110 rows. With a peer
(``bench/run.sh --peer``) the driver copies the peer's own rows instead (see driver.py).

Usage: ``python bench/seed.py DATABASE_URL`` (a SQLite file is replaced; a PostgreSQL or
MySQL database is dropped and created again).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from dataclasses import dataclass
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

EPOCH = datetime(2020, 10, 12, 4, 51, 27, tzinfo=UTC)
NAMESPACE = uuid.UUID("6f1c1d3e-6c35-4a43-9a53-1f6bd2a1c0de")
READER = "alice"  # who the scenarios sign in as
ADMIN = "bob"


@dataclass(frozen=True)
class Post:
    id: int
    title: str
    url: str
    description: str | None
    owner: str | None
    posted: datetime
    approved: bool


def standard_posts() -> list[Post]:
    def owner(i: int) -> str:
        return READER if 101 <= i <= 110 else ADMIN

    return [
        Post(i, f"Template {i}", f"https://memes.example.com/{i}.png",
             f"Benchmark template number {i}", owner(i), EPOCH + timedelta(minutes=i), i <= 100)
        for i in range(1, 201)
    ]


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


async def seed(
    url: str, posts: list[Post] | None = None, *, reader: str = READER, admin: str = ADMIN
) -> dict[str, int]:
    """Fill a fresh database with ``posts`` (the standard ones by default), their owners,
    ``reader`` and ``admin``. Returns each username's id."""
    url = to_async_url(url)
    posts = standard_posts() if posts is None else posts
    await recreate(url)
    names = sorted({reader, admin} | {p.owner for p in posts if p.owner})
    # The SPEC's default argon2 parameters: the login scenario measures exactly those.
    passwords = passwords_for(Settings())
    hashes = await asyncio.gather(*(passwords.hash(password_of(n)) for n in names))
    ids = {name: i for i, name in enumerate(names, 1)}
    users = [
        {
            "id": ids[name],
            "public_id": str(uuid.uuid5(NAMESPACE, name)),
            "username": name,
            "password": hashed,
            "admin": name == admin,
            "token_version": 0,
            "created_at": EPOCH.replace(tzinfo=None),
        }
        for name, hashed in zip(names, hashes, strict=True)
    ]
    templates = [
        {
            "id": p.id,
            "title": p.title,
            "description": p.description,
            "url": p.url,
            "user_id": ids[p.owner] if p.owner else None,
            "posted": p.posted.astimezone(UTC).replace(tzinfo=None),
            "approved": p.approved,
        }
        for p in posts
    ]
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
            await conn.execute(insert(User.__table__), users)  # type: ignore[attr-defined]
            if templates:
                await conn.execute(insert(MemeTemplate.__table__), templates)  # type: ignore[attr-defined]
            if engine.dialect.name == "postgresql":
                for table in ("user", "meme_template"):
                    await conn.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM \"{table}\"))"
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
    return ids


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/seed.py DATABASE_URL")
    ids = asyncio.run(seed(sys.argv[1]))
    print(f"seeded {len(ids)} users and {len(standard_posts())} templates into {sys.argv[1]}")


if __name__ == "__main__":
    main()
