"""The doctor's look at the database: reachable, its schema, legacy hashes, app tokens."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.cli.doctor.report import FAIL, NOTE, OK, WARN, Report
from gateway.cli.doctor.tokens import TokenSample, count_existing
from gateway.db import migrate
from gateway.db.engine import create_engine
from gateway.settings import Settings


async def check_database(
    report: Report, settings: Settings, sample: TokenSample | None = None
) -> None:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(str(url.database))
        if not path.is_file():
            report.add(FAIL, "database", f"no SQLite file at {path}")
            report.add(FAIL, "schema", "none: run `gateway db upgrade` to create it")
            return
    engine = create_engine(settings)
    try:
        try:
            async with asyncio.timeout(settings.db_pool_timeout + 5):
                async with engine.connect() as conn:
                    await conn.execute(sa.text("SELECT 1"))
        except Exception as exc:  # any driver's failure to connect is the same finding
            report.add(FAIL, "database", f"unreachable ({_one_line(exc)})")
            return
        report.add(OK, "database", "reachable")
        try:
            async with engine.connect() as conn:
                await _inspect(report, conn, settings, sample)
        except Exception as exc:
            report.add(FAIL, "database", f"cannot be read ({_one_line(exc)})")
    finally:
        await engine.dispose()


async def _inspect(
    report: Report, conn: AsyncConnection, settings: Settings, sample: TokenSample | None
) -> None:
    schema = await conn.run_sync(migrate.inspect_schema)
    check_schema(report, schema)
    if "user" in schema.tables:
        await check_passwords(report, conn)
    check_apps_required(report, settings, set(schema.tables))
    if "application" in schema.tables:
        await check_apps(report, conn, settings)
    if sample is not None and "user" in schema.tables:
        await count_existing(conn, sample)


def check_schema(report: Report, schema: migrate.Schema) -> None:
    head = migrate.head_revision()
    upgrade = "run `gateway db upgrade`"
    revision = schema.revision
    if revision is not None:
        if revision == head:
            report.add(OK, "schema", f"at head {head}")
        elif revision == migrate.ORIGINAL_REVISION:
            report.add(FAIL, "schema", f"the original app's revision {revision}: {upgrade}")
        elif revision in _known_revisions():
            report.add(FAIL, "schema", f"at {revision}, behind head {head}: {upgrade}")
        else:
            report.add(
                FAIL,
                "schema",
                f"unknown revision {revision} (not one of this gateway's migrations); "
                "is this the right database?",
            )
    elif schema.made_by == migrate.ORIGINAL_REVISION:
        report.add(
            FAIL,
            "schema",
            "made by the original app's create_all() (no alembic_version): "
            f"{upgrade} (it stamps {migrate.ORIGINAL_REVISION} first)",
        )
    elif schema.made_by == "head":
        report.add(
            WARN,
            "schema",
            f"current tables but no alembic_version (made by create_all()): {upgrade} "
            "to record it as head",
        )
    elif not schema.tables:
        report.add(FAIL, "schema", f"none (empty database): {upgrade}")
    else:
        report.add(FAIL, "schema", f"unknown (tables: {', '.join(sorted(schema.tables))})")


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    return {script.revision for script in scripts.walk_revisions()}


async def check_passwords(report: Report, conn: AsyncConnection) -> None:
    password: sa.ColumnClause[str] = sa.column("password")
    users = sa.table("user", password)
    total = await conn.scalar(sa.select(sa.func.count()).select_from(users)) or 0
    legacy = (
        await conn.scalar(
            sa.select(sa.func.count())
            .select_from(users)
            .where(sa.or_(password.is_(None), sa.not_(password.startswith("$argon2"))))
        )
        or 0
    )
    if legacy:
        report.add(
            NOTE,
            "passwords",
            f"{legacy} of {total} users still have the original's (werkzeug) hashes; "
            "each becomes argon2 at that user's next login",
        )
    else:
        report.add(OK, "passwords", f"all {total} users have argon2 hashes")


def check_apps_required(report: Report, settings: Settings, tables: set[str]) -> None:
    if settings.app_tokens_required and "application" not in tables:
        report.add(
            FAIL,
            "app tokens",
            "APP_TOKENS_REQUIRED=true but there is no application table yet: "
            "run `gateway db upgrade`, then `gateway apps add NAME --token-stdin`",
        )


async def check_apps(report: Report, conn: AsyncConnection, settings: Settings) -> None:
    revoked_at: sa.ColumnClause[Any] = sa.column("revoked_at")
    apps = sa.table("application", revoked_at)
    rows = await conn.execute(
        sa.select(revoked_at.is_(None).label("active"), sa.func.count())
        .select_from(apps)
        .group_by(revoked_at.is_(None))
    )
    counts = {bool(active): n for active, n in rows}
    active, revoked = counts.get(True, 0), counts.get(False, 0)
    registered = f"{active} active application(s), {revoked} revoked"
    if not settings.app_tokens_required:
        report.add(NOTE, "app tokens", f"not required (APP_TOKENS_REQUIRED=false); {registered}")
    elif active:
        report.add(OK, "app tokens", f"required; {registered}")
    else:
        report.add(
            FAIL,
            "app tokens",
            "APP_TOKENS_REQUIRED=true but no active application is registered: every "
            "request would get 401; run `gateway apps add NAME --token-stdin`",
        )


def _one_line(exc: BaseException) -> str:
    orig: Any = getattr(exc, "orig", None) or exc
    text = str(orig).strip() or orig.__class__.__name__
    return text.splitlines()[0]
