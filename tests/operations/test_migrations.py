"""Migrations: from empty, and taking over the original app's databases, on every database."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from gateway.db import migrate
from gateway.settings import Settings
from tests.conftest import DATABASES, FIXTURES, TEST_SECRET
from tests.conftest import test_settings as make_settings
from tests.support import ROOT
from tests.support.databases import recreate_database, sibling, unreachable

ORIGINAL = migrate.ORIGINAL_REVISION
HEAD = migrate.head_revision()
ROWS = json.loads((FIXTURES / "rows.json").read_text())
PASSWORDS = {u["username"]: u["password"] for u in ROWS["users"]}

# What every taken-over database must hold: the owner found by username ("ghost" and
# no username → none), NULL approved/admin → false, every row and its text intact.
EXPECTED_TEMPLATES = {
    "Distracted boyfriend": ("admin", True),
    "Drake": ("alice", False),
    "Two buttons": ("alice", True),
    "Ünïcödé 😀 title": ("bob", False),
    "Orphan": (None, True),
    "No owner": (None, False),
}
EXPECTED_ADMINS = {"admin": True, "alice": False, "bob": False, "carol": False}

user_table = sa.table(
    "user",
    sa.column("id", sa.Integer()),
    sa.column("public_id", sa.String()),
    sa.column("username", sa.String()),
    sa.column("password", sa.String()),
    sa.column("admin", sa.Boolean()),
)
original_template_table = sa.table(
    "meme_template",
    sa.column("id", sa.Integer()),
    sa.column("title", sa.String()),
    sa.column("description", sa.String()),
    sa.column("url", sa.String()),
    sa.column("username", sa.String()),
    sa.column("posted", sa.DateTime()),
    sa.column("approved", sa.Boolean()),
)


@pytest.fixture(params=DATABASES)
async def mig_settings(
    request: pytest.FixtureRequest, tmp_path: Path, reachability: dict[str, str | None]
) -> Settings:
    """A fresh, empty database of the matrix for one test."""
    if request.param == "sqlite":
        return make_settings(f"sqlite+aiosqlite:///{tmp_path / 'mig.db'}")
    problem = reachability[request.param]
    if problem is not None:
        unreachable(request.param, problem)
    url = sibling(request.param, "mig")
    await recreate_database(url)
    return make_settings(url)


@pytest.fixture
async def engine(mig_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(mig_settings.database_url, poolclass=NullPool)
    yield engine
    await engine.dispose()


def werkzeug_hash(method: str, password: str, salt: str = "s4ltS4lt") -> str:
    """A hash as Werkzeug 1.0's generate_password_hash wrote it (for loading rows.json)."""
    if method == "sha256":
        digest = hmac.new(salt.encode(), password.encode(), hashlib.sha256).hexdigest()
        return f"sha256${salt}${digest}"
    _, name, rounds = (method + ":150000").split(":")[:3]
    digest = hashlib.pbkdf2_hmac(name, password.encode(), salt.encode(), int(rounds)).hex()
    return f"pbkdf2:{name}:{rounds}${salt}${digest}"


def method_for(engine: AsyncEngine, user: dict[str, Any]) -> str:
    """The row's own hash method where the original could store it. Its VARCHAR(80)
    cannot hold a 94-character pbkdf2 hash on a server that enforces lengths (SQLite
    does not), so there the original could only have used its sign-up method, sha256."""
    method: str = user["hash_method"]
    return method if engine.dialect.name == "sqlite" else "sha256"


async def load_rows(engine: AsyncEngine) -> None:
    """rows.json into the original schema, as the original app would have written it."""
    async with engine.begin() as conn:
        for i, user in enumerate(ROWS["users"], start=1):
            await conn.execute(
                user_table.insert().values(
                    id=i,
                    public_id=user["public_id"],
                    username=user["username"],
                    password=werkzeug_hash(method_for(engine, user), user["password"]),
                    admin=user["admin"],
                )
            )
        for i, template in enumerate(ROWS["templates"], start=1):
            posted = template["posted"]
            await conn.execute(
                original_template_table.insert().values(
                    id=i,
                    title=template["title"],
                    description=template["description"],
                    url=template["url"],
                    username=template["username"],
                    posted=datetime.fromisoformat(posted) if posted else None,
                    approved=template["approved"],
                )
            )


def users_of(engine: AsyncEngine) -> str:
    """The quoted name of the ``user`` table (a reserved word nearly everywhere)."""
    return engine.dialect.identifier_preparer.quote("user")


async def read(engine: AsyncEngine, query: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(sa.text(query))]


async def check_taken_over(engine: AsyncEngine, passwords: dict[str, str]) -> None:
    """The gateway schema holds every row of the original, each template with its owner."""
    users = await read(
        engine, f"SELECT username, admin, password, public_id FROM {users_of(engine)}"
    )
    assert {name: bool(admin) for name, admin, _, _ in users} == EXPECTED_ADMINS
    assert {name: pw for name, _, pw, _ in users} == passwords
    assert {u[3] for u in users} == {u["public_id"] for u in ROWS["users"]}
    templates = await read(
        engine,
        f"SELECT t.title, u.username, t.approved, t.posted, t.url, t.description "
        f"FROM meme_template t LEFT JOIN {users_of(engine)} u ON u.id = t.user_id",
    )
    assert {t[0]: (t[1], bool(t[2])) for t in templates} == EXPECTED_TEMPLATES
    assert all(t[3] is not None for t in templates)
    source = {t["title"]: (t["url"], t["description"]) for t in ROWS["templates"]}
    assert {t[0]: (t[4], t[5]) for t in templates} == source


async def check_original_schema(engine: AsyncEngine) -> None:
    """After a downgrade: the original's columns, each template's username from its owner."""
    async with engine.connect() as conn:
        columns = await conn.run_sync(
            lambda c: {
                t: [col["name"] for col in sa.inspect(c).get_columns(t)]
                for t in ("user", "meme_template")
            }
        )
        tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    assert sorted(columns["user"]) == sorted(["id", "public_id", "username", "password", "admin"])
    assert sorted(columns["meme_template"]) == sorted(
        ["id", "title", "description", "url", "username", "posted", "approved"]
    )
    assert "application" not in tables
    rows = await read(engine, "SELECT title, username, approved FROM meme_template")
    assert {title: owner for title, owner, _ in rows} == {
        title: owner for title, (owner, _) in EXPECTED_TEMPLATES.items()
    }
    assert len(await read(engine, "SELECT id FROM meme_template")) == len(ROWS["templates"])


def differences(conn: Connection) -> list[Any]:
    """What alembic's autogenerate would still change to reach the models.

    One kind of noise is dropped: MySQL reports a Boolean's server default `false`
    back as the text '0', which alembic cannot prove equal to ``sa.false()``."""
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    found = []
    for diff in compare_metadata(context, SQLModel.metadata):
        change = diff[0] if isinstance(diff, list) else diff
        if (
            conn.dialect.name == "mysql"
            and change[0] == "modify_default"
            and str(getattr(change[5], "arg", "")).strip("'") == "0"
            and isinstance(getattr(change[6], "arg", None), sa.sql.elements.False_)
        ):
            continue
        found.append(diff)
    return found


async def assert_matches_models(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert await conn.run_sync(differences) == []


async def test_upgrade_from_empty_reaches_the_models(
    mig_settings: Settings, engine: AsyncEngine
) -> None:
    change = await migrate.upgrade(mig_settings)
    assert (change.before, change.after, change.recognised) == (None, HEAD, None)
    assert await migrate.current(mig_settings) == HEAD
    await assert_matches_models(engine)
    again = await migrate.upgrade(mig_settings)
    assert again.before == again.after == HEAD


async def test_rows_loaded_into_the_original_schema_survive_upgrade_and_downgrade(
    mig_settings: Settings, engine: AsyncEngine
) -> None:
    await migrate.upgrade(mig_settings, ORIGINAL)
    await load_rows(engine)
    passwords = dict(await read(engine, f"SELECT username, password FROM {users_of(engine)}"))

    await migrate.upgrade(mig_settings)
    await check_taken_over(engine, passwords)
    await assert_matches_models(engine)

    change = await migrate.downgrade(mig_settings, ORIGINAL)
    assert (change.before, change.after) == (HEAD, ORIGINAL)
    await check_original_schema(engine)

    await migrate.upgrade(mig_settings)
    await check_taken_over(engine, passwords)
    await assert_matches_models(engine)


@pytest.mark.parametrize("fixture", ["stamped.sqlite", "create_all.sqlite"])
async def test_original_sqlite_files_are_taken_over(tmp_path: Path, fixture: str) -> None:
    path = tmp_path / "original.db"
    shutil.copy(FIXTURES / fixture, path)
    with sqlite3.connect(FIXTURES / fixture) as source:
        passwords = dict(source.execute("SELECT username, password FROM user"))
    settings = make_settings(f"sqlite+aiosqlite:///{path}")
    engine = create_async_engine(settings.database_url, poolclass=NullPool)
    try:
        change = await migrate.upgrade(settings)
        assert change.recognised == (ORIGINAL if fixture == "create_all.sqlite" else None)
        assert (change.before, change.after) == (ORIGINAL, HEAD)
        await check_taken_over(engine, passwords)
        await assert_matches_models(engine)

        await migrate.downgrade(settings, ORIGINAL)
        await check_original_schema(engine)
        await migrate.upgrade(settings)
        await check_taken_over(engine, passwords)
    finally:
        await engine.dispose()


async def test_first_revision_is_the_original_schema(tmp_path: Path) -> None:
    """Column for column what the original's create_all() made (create_all.sqlite)."""
    path = tmp_path / "first.db"
    await migrate.upgrade(make_settings(f"sqlite+aiosqlite:///{path}"), ORIGINAL)

    def shape(db: Path) -> dict[str, Any]:
        with sqlite3.connect(db) as conn:
            return {
                table: (
                    conn.execute(f'PRAGMA table_info("{table}")').fetchall(),
                    sorted(
                        tuple(c[2] for c in conn.execute(f'PRAGMA index_info("{idx[1]}")'))
                        for idx in conn.execute(f'PRAGMA index_list("{table}")')
                        if idx[2]
                    ),
                )
                for table in ("user", "meme_template")
            }

    assert shape(path) == shape(FIXTURES / "create_all.sqlite")


async def test_create_all_of_the_current_models_is_stamped_head(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    engine = create_async_engine(settings.database_url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)
    finally:
        await engine.dispose()
    change = await migrate.upgrade(settings)
    assert change.recognised == "head"
    assert await migrate.current(settings) == HEAD


async def test_a_schema_it_does_not_know_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE user (id INTEGER PRIMARY KEY, name TEXT)")
    settings = make_settings(f"sqlite+aiosqlite:///{path}")
    with pytest.raises(migrate.MigrationError, match="not a schema this gateway recognises"):
        await migrate.upgrade(settings)
    assert await migrate.current(settings) is None


@pytest.mark.slow
def test_alembics_own_command_line_runs_the_repositorys_scripts(tmp_path: Path) -> None:
    """``alembic upgrade head`` with the repository's alembic.ini, as Alembic users expect."""
    root = ROOT
    db_path = tmp_path / "alembic.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db_path}", "SECRET_KEY": TEST_SECRET}
    done = subprocess.run(
        [Path(sys.executable).with_name("alembic"), "-c", root / "alembic.ini", "upgrade", "head"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(HEAD,)]
