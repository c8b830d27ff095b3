"""`gateway doctor`: what taking over from the original Flask app needs, in plain lines."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.auth import legacy_tokens_accepted
from gateway.db import migrate
from gateway.db.engine import create_engine
from gateway.errors import Unauthenticated
from gateway.settings import MIN_SECRET_BYTES, Settings, SettingsError, secret_key_path
from gateway.tokens import read_access_token, read_legacy_token

OK, NOTE, WARN, FAIL = "ok", "note", "warn", "FAIL"
EXIT_BLOCKED = 1
EXIT_SETTINGS = 2
ORIGINAL_TABLES = {"user", "meme_template"}


@dataclass(frozen=True)
class Finding:
    level: str
    topic: str
    text: str

    def line(self) -> str:
        return f"{self.level:<4}  {self.topic}: {self.text}"


@dataclass
class Report:
    """The findings in the order they were made; any FAIL blocks start-up."""

    findings: list[Finding] = field(default_factory=list)

    def add(self, level: str, topic: str, text: str) -> None:
        self.findings.append(Finding(level, topic, text))

    @property
    def blocked(self) -> bool:
        return any(f.level == FAIL for f in self.findings)

    @property
    def exit_status(self) -> int:
        return EXIT_BLOCKED if self.blocked else 0

    def lines(self) -> list[str]:
        return [f.line() for f in self.findings]


def main(*, tokens_stdin: bool = False, stdin: TextIO | None = None) -> int:
    """Read the settings, examine, print one line per finding; the exit status."""
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(Finding(FAIL, "settings", str(exc)).line())
        return EXIT_SETTINGS
    tokens = (stdin or sys.stdin).read().splitlines() if tokens_stdin else None
    report = asyncio.run(examine(settings, tokens=tokens))
    for line in report.lines():
        print(line)
    print("start-up is blocked: fix the FAIL lines" if report.blocked else "ready to serve")
    return report.exit_status


async def examine(
    settings: Settings, *, tokens: Sequence[str] | None = None, now: datetime | None = None
) -> Report:
    """Every check, configuration first, then the database, then the token sample."""
    now = now or datetime.now(UTC)
    report = Report()
    check_configuration(report, settings, now)
    sample = None if tokens is None else TokenSample.read(settings, tokens)
    await check_database(report, settings, sample)
    if sample is not None:
        check_tokens(report, settings, sample, now)
    return report


# --- configuration -----------------------------------------------------------------


def check_configuration(report: Report, settings: Settings, now: datetime) -> None:
    url = make_url(settings.database_url).render_as_string(hide_password=True)
    report.add(OK, "settings", f"GATEWAY_ENV={settings.env}, database {url}")

    size = len(settings.secret_key.encode())
    generated = secret_key_path(settings.database_url)
    if _is_generated(settings, generated):
        report.add(
            WARN,
            "SECRET_KEY",
            f"not set: new tokens are signed with a key generated into {generated}; "
            "the original app's tokens verify only if LEGACY_SECRET_KEY is its key",
        )
    elif size < MIN_SECRET_BYTES:
        report.add(
            WARN,
            "SECRET_KEY",
            f"{size} bytes: enough outside production, but GATEWAY_ENV=production needs "
            f"{MIN_SECRET_BYTES}; there, set a new SECRET_KEY and keep this one as "
            "LEGACY_SECRET_KEY",
        )
    else:
        report.add(OK, "SECRET_KEY", f"set ({size} bytes)")

    until = settings.legacy_tokens_until
    key = "LEGACY_SECRET_KEY" if settings.legacy_secret_key else "SECRET_KEY"
    if until is None:
        report.add(
            NOTE,
            "legacy tokens",
            "off (LEGACY_TOKENS_UNTIL unset): tokens the original app issued get 401",
        )
    elif legacy_tokens_accepted(settings, now):
        days = (until - now).days
        report.add(
            OK,
            "legacy tokens",
            f"accepted until {until:%Y-%m-%d %H:%M:%S} UTC ({days} days left), verified with {key}",
        )
    else:
        report.add(
            WARN,
            "legacy tokens",
            f"off: LEGACY_TOKENS_UNTIL {until:%Y-%m-%d %H:%M:%S} UTC has passed; "
            "tokens the original app issued get 401",
        )
    if settings.legacy_secret_key and not legacy_tokens_accepted(settings, now):
        report.add(NOTE, "LEGACY_SECRET_KEY", "set, but unused while legacy tokens are off")


def _is_generated(settings: Settings, path: Path | None) -> bool:
    try:
        return path is not None and path.read_text().strip() == settings.secret_key
    except OSError:
        return False


# --- database ----------------------------------------------------------------------


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
    def shape(sync: Connection) -> tuple[set[str], set[str]]:
        inspector = sa.inspect(sync)
        tables = set(inspector.get_table_names())
        if "meme_template" not in tables:
            return tables, set()
        return tables, {c["name"] for c in inspector.get_columns("meme_template")}

    tables, template_columns = await conn.run_sync(shape)
    revision = None
    if "alembic_version" in tables:
        revision = await conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    check_schema(report, tables, template_columns, revision)
    if "user" in tables:
        await check_passwords(report, conn)
    check_apps_required(report, settings, tables)
    if "application" in tables:
        await check_apps(report, conn, settings)
    if sample is not None and "user" in tables:
        await count_existing(conn, sample)


def check_schema(
    report: Report, tables: set[str], template_columns: set[str], revision: str | None
) -> None:
    head = migrate.head_revision()
    upgrade = "run `gateway db upgrade`"
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
    elif ORIGINAL_TABLES <= tables and "username" in template_columns:
        report.add(
            FAIL,
            "schema",
            "made by the original app's create_all() (no alembic_version): "
            f"{upgrade} (it stamps {migrate.ORIGINAL_REVISION} first)",
        )
    elif ORIGINAL_TABLES <= tables and "application" in tables:
        report.add(
            WARN,
            "schema",
            f"current tables but no alembic_version (made by create_all()): {upgrade} "
            "to record it as head",
        )
    elif not tables:
        report.add(FAIL, "schema", f"none (empty database): {upgrade}")
    else:
        report.add(FAIL, "schema", f"unknown (tables: {', '.join(sorted(tables))})")


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


# --- a sample of the original's tokens ---------------------------------------------


@dataclass
class TokenSample:
    """Tokens given on stdin, sorted by the key and shape they verify with."""

    given: int = 0
    legacy: list[str] = field(default_factory=list)  # public ids, the original's shape
    ours: list[str] = field(default_factory=list)  # public ids, gateway tokens
    existing: int | None = None  # how many name a user in the database, once looked up

    @classmethod
    def read(cls, settings: Settings, tokens: Sequence[str]) -> TokenSample:
        sample = cls()
        legacy_key = settings.legacy_secret_key or settings.secret_key
        for token in (t.strip() for t in tokens):
            if not token:
                continue
            sample.given += 1
            try:
                claims = read_access_token(token, secret=settings.secret_key)
                if claims.version is not None:
                    sample.ours.append(claims.public_id)
                    continue
            except Unauthenticated:
                pass
            try:
                sample.legacy.append(read_legacy_token(token, secret=legacy_key).public_id)
            except Unauthenticated:
                continue
        return sample

    @property
    def public_ids(self) -> list[str]:
        return self.legacy + self.ours


async def count_existing(conn: AsyncConnection, sample: TokenSample) -> None:
    if not sample.public_ids:
        sample.existing = 0
        return
    column: sa.ColumnClause[str] = sa.column("public_id")
    found = await conn.scalars(
        sa.select(column)
        .select_from(sa.table("user", column))
        .where(column.in_(set(sample.public_ids)))
    )
    existing = set(found)
    sample.existing = sum(p in existing for p in sample.public_ids)


def check_tokens(report: Report, settings: Settings, sample: TokenSample, now: datetime) -> None:
    """Whether the configured key is the one the original signed these tokens with."""
    key = "LEGACY_SECRET_KEY" if settings.legacy_secret_key else "SECRET_KEY"
    if not sample.given:
        report.add(WARN, "tokens", "none given on stdin (one token per line)")
        return
    verified = len(sample.public_ids)
    text = f"{sample.given} given, {verified} verify"
    if sample.legacy:
        text += f" ({len(sample.legacy)} of the original's shape, with {key})"
    if sample.ours:
        text += f" ({len(sample.ours)} gateway tokens, with SECRET_KEY)"
    if sample.existing is not None:
        text += f", {sample.existing} name existing users"
    if verified == 0:
        report.add(
            FAIL, "tokens", f"{text}: {key} is not the key the original app signed them with"
        )
    elif verified < sample.given:
        report.add(WARN, "tokens", f"{text}; the others will get 401")
    else:
        report.add(OK, "tokens", text)
    if sample.legacy and not legacy_tokens_accepted(settings, now):
        report.add(
            WARN,
            "tokens",
            "the original's tokens verify, but legacy tokens are off, so they will get 401: "
            "set LEGACY_TOKENS_UNTIL",
        )


def _one_line(exc: BaseException) -> str:
    orig: Any = getattr(exc, "orig", None) or exc
    text = str(orig).strip() or orig.__class__.__name__
    return text.splitlines()[0]
