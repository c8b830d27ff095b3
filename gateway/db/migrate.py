"""Schema migrations for the command line: Alembic on an async engine, plus the takeover
of a database the original app made with ``create_all()``."""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from gateway.db.engine import connect_args
from gateway.settings import Settings

T = TypeVar("T")

ORIGINAL_REVISION = "eca8ddca17c7"
ORIGINAL_TABLES = frozenset({"user", "meme_template"})


class MigrationError(Exception):
    """A migration cannot run; the message is one line saying why."""


@dataclass(frozen=True)
class Change:
    """What a migration command did: the revision before and after, and the revision a
    database without Alembic's table was recognised as (and stamped) first, if any."""

    before: str | None
    after: str | None
    recognised: str | None = None


def scripts_dir() -> Path:
    """The folder of the Alembic scripts (env.py, versions/). A wheel ships the top-level
    alembic/ folder as the package's ``migrations`` resource; an editable install of a
    checkout has no such copy (see pyproject.toml), so there it is alembic/ itself."""
    package = Path(str(importlib.resources.files("gateway")))
    for scripts in (package / "migrations", package.parent / "alembic"):
        if (scripts / "env.py").is_file():
            return scripts
    raise MigrationError(f"migration scripts not found in {package / 'migrations'}")


def alembic_config(database_url: str) -> Config:
    """Alembic's configuration for one database, without reading alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(scripts_dir()))
    config.set_main_option("path_separator", "os")
    config.attributes["database_url"] = database_url
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def upgrade(settings: Settings, revision: str = "head") -> Change:
    """Upgrade to ``revision``. A database the original app made with create_all()
    (its two tables, no ``alembic_version``) is stamped at the original's revision first."""

    def run(conn: Connection, config: Config) -> Change:
        recognised = _recognise(conn)
        if recognised is not None:
            command.stamp(config, recognised)
        before = _current(conn)
        command.upgrade(config, revision)
        return Change(before, _current(conn), recognised)

    return await _run(settings, run)


async def downgrade(settings: Settings, revision: str) -> Change:
    """Downgrade to ``revision`` (``eca8ddca17c7`` gives the original schema back)."""

    def run(conn: Connection, config: Config) -> Change:
        before = _current(conn)
        command.downgrade(config, revision)
        return Change(before, _current(conn))

    return await _run(settings, run)


async def stamp(settings: Settings, revision: str) -> Change:
    """Record ``revision`` as the database's revision without running any migration."""

    def run(conn: Connection, config: Config) -> Change:
        before = _current(conn)
        command.stamp(config, revision)
        return Change(before, _current(conn))

    return await _run(settings, run)


async def current(settings: Settings) -> str | None:
    """The database's revision, or None when Alembic has never run on it."""
    return await _run(settings, lambda conn, _config: _current(conn))


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


@dataclass(frozen=True)
class Schema:
    """What a database holds, as far as migrations care: its tables, the revision Alembic
    recorded (if any), and, for tables made without Alembic (``create_all()``), the
    revision they match: the original app's, ``"head"`` for the current models, or None."""

    tables: frozenset[str]
    revision: str | None
    made_by: str | None


def inspect_schema(conn: Connection) -> Schema:
    inspector = sa.inspect(conn)
    tables = frozenset(inspector.get_table_names())
    revision = _current(conn) if "alembic_version" in tables else None
    made_by = None
    if revision is None and ORIGINAL_TABLES <= tables:  # only asked of unrecorded tables
        columns = {c["name"] for c in inspector.get_columns("meme_template")}
        if "username" in columns and "user_id" not in columns:
            made_by = ORIGINAL_REVISION  # the original app's db.create_all()
        elif "user_id" in columns and "application" in tables:
            made_by = "head"  # create_all() of the current models
    return Schema(tables, revision, made_by)


def _recognise(conn: Connection) -> str | None:
    """The revision to stamp on a database that has our tables but no Alembic record."""
    schema = inspect_schema(conn)
    present = ORIGINAL_TABLES & schema.tables
    if schema.revision is not None or not present:
        return None
    if present != ORIGINAL_TABLES:
        raise MigrationError(
            f"the database has table {sorted(present)[0]!r} but no migration record; "
            "it is not a schema this gateway recognises"
        )
    if schema.made_by is None:
        raise MigrationError(
            "the database has tables user and meme_template but no migration record, "
            "and their columns match no known revision"
        )
    return schema.made_by


async def _run(settings: Settings, func: Callable[[Connection, Config], T]) -> T:
    """Run a sync Alembic step on one connection of a throwaway engine, in one
    transaction (DDL is transactional on PostgreSQL and SQLite, not on MySQL)."""
    config = alembic_config(settings.database_url)
    engine = _engine(settings)

    def step(conn: Connection) -> T:
        config.attributes["connection"] = conn
        return func(conn, config)

    try:
        async with engine.begin() as conn:
            return await conn.run_sync(step)
    except CommandError as exc:
        raise MigrationError(str(exc).splitlines()[0]) from None
    finally:
        await engine.dispose()


def _engine(settings: Settings) -> AsyncEngine:
    # No pool and none of the app's SQLite pragmas: foreign keys stay off while batch
    # mode copies tables, so no ON DELETE action fires during the copy. The connect
    # timeout is the app's own: a migration on an unreachable server fails, never hangs.
    return create_async_engine(
        make_url(settings.database_url),
        poolclass=NullPool,
        connect_args=connect_args(settings, statements=False),
    )
