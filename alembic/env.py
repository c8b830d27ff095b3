"""Alembic environment: the gateway's models as metadata, the gateway's settings as URL.

The URL is, in order: ``config.attributes["database_url"]`` (set by
gateway/db/migrate.py), then ``Settings.from_env()`` (DATABASE_URL, the original's
SQLALCHEMY_DATABASE_URI or DB_* variables, `.env`). A caller may also hand over an
open connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

import gateway.db.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from gateway.settings import Settings

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def database_url() -> str:
    url = config.attributes.get("database_url")
    return str(url) if url else Settings.from_env().database_url


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: copy-and-move the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    # A plain engine: no pool, and none of the app's SQLite pragmas (foreign keys
    # stay off while batch mode copies tables, so no ON DELETE fires mid-copy).
    engine = create_async_engine(database_url(), poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
elif (connection := config.attributes.get("connection")) is not None:
    do_run_migrations(connection)
else:
    asyncio.run(run_async_migrations())
