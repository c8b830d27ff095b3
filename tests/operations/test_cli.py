"""The ``gateway`` command, run through its installed entry point as an operator would."""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gateway.app import create_app
from gateway.auth.hashing import SLOTS_ENV
from gateway.cli import build_parser, main
from gateway.cli.asgi import YOUNG_GENERATION_THRESHOLD
from gateway.db import migrate
from gateway.db.models import Application, User
from tests.conftest import DATABASES, FIXTURES, TEST_SECRET
from tests.conftest import test_settings as make_settings
from tests.support import ROOT
from tests.support.databases import recreate_database, sibling, unreachable

pytestmark = pytest.mark.slow

GATEWAY = Path(sys.executable).with_name("gateway")
HEAD = migrate.head_revision()
ORIGINAL = migrate.ORIGINAL_REVISION
# Variables that would point the command elsewhere than the test's database.
CONFIG_NAMES = {
    "DATABASE_URL",
    "SQLALCHEMY_DATABASE_URI",
    "DB_USERNAME",
    "DB_PASS",
    "DB_HOST",
    "DB_NAME",
    "GATEWAY_ENV",
    "SECRET_KEY",
    "ADMIN_USERNAME",
    "ADMIN_PASSWORD",
}

Gateway = Callable[..., subprocess.CompletedProcess[str]]


def gateway_command(cwd: Path, database_url: str, executable: Path = GATEWAY) -> Gateway:
    """Runs ``executable`` (this environment's ``gateway``) in ``cwd`` on ``database_url``."""

    def run(*args: str, input: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if k not in CONFIG_NAMES}
        environ |= {
            "DATABASE_URL": database_url,
            "SECRET_KEY": TEST_SECRET,
            "PASSWORD_ARGON2_MEMORY_KIB": "1024",
            "PASSWORD_ARGON2_TIME_COST": "1",
        } | env
        return subprocess.run(
            [str(executable), *args],
            input=input,
            capture_output=True,
            text=True,
            cwd=cwd,
            env=environ,
            timeout=120,
        )

    return run


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


@pytest.fixture
def gateway(tmp_path: Path, db_path: Path) -> Gateway:
    return gateway_command(tmp_path, f"sqlite:///{db_path}")


@pytest.fixture
def migrated(gateway: Gateway) -> Gateway:
    assert gateway("db", "upgrade").returncode == 0
    return gateway


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """A failure is exit 1 and exactly one line on stderr, never a traceback."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("gateway: error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


async def rows(db_path: Path, model: type[User] | type[Application]) -> list[Any]:
    settings = make_settings(f"sqlite+aiosqlite:///{db_path}")
    app = create_app(settings)
    try:
        async with app.state.sessions() as session:
            return list(await session.scalars(sa.select(model).order_by(model.id)))
    finally:
        await app.state.engine.dispose()


async def login(db_path: Path, username: str, password: str) -> int:
    app = create_app(make_settings(f"sqlite+aiosqlite:///{db_path}"))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            return (await client.get("/login", auth=(username, password))).status_code
    finally:
        await app.state.engine.dispose()


def commands() -> list[list[str]]:
    """Every command path of the parser: [], ["serve"], ["db", "upgrade"], …"""
    found: list[list[str]] = []

    def walk(p: argparse.ArgumentParser, path: list[str]) -> None:
        found.append(path)
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])

    walk(build_parser(), [])
    return found


@pytest.mark.parametrize("path", commands(), ids=lambda p: " ".join(p) or "gateway")
def test_help_of_every_command(path: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: gateway {' '.join(path)}".rstrip())


def test_version_is_the_projects(capsys: pytest.CaptureFixture[str]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"gateway {version}\n"


def test_help_through_the_installed_entry_point(gateway: Gateway) -> None:
    out = ok(gateway("--help"))
    for name in ("serve", "db", "create-admin", "apps", "schema"):
        assert name in out


@pytest.fixture(params=DATABASES)
async def any_database(
    request: pytest.FixtureRequest, tmp_path: Path, reachability: dict[str, str | None]
) -> Gateway:
    if request.param == "sqlite":
        return gateway_command(tmp_path, f"sqlite:///{tmp_path / 'any.db'}")
    problem = reachability[request.param]
    if problem is not None:
        unreachable(request.param, problem)
    url = sibling(request.param, "cli")
    await recreate_database(url)
    return gateway_command(tmp_path, url)


def test_db_upgrade_current_stamp_downgrade(any_database: Gateway) -> None:
    gateway = any_database
    assert ok(gateway("db", "current")).strip() == "none"
    assert f"to {ORIGINAL}" in ok(gateway("db", "upgrade", ORIGINAL))
    assert ok(gateway("db", "current")).strip() == ORIGINAL
    assert f"to {HEAD} (head)" in ok(gateway("db", "upgrade"))
    assert "already at" in ok(gateway("db", "upgrade"))
    assert f"to {ORIGINAL}" in ok(gateway("db", "downgrade", ORIGINAL))
    assert ok(gateway("db", "current")).strip() == ORIGINAL

    ok(gateway("db", "stamp", "head"))  # records only: no migration runs
    assert ok(gateway("db", "current")).strip() == f"{HEAD} (head)"
    ok(gateway("db", "stamp", ORIGINAL))
    ok(gateway("db", "upgrade"))
    assert ok(gateway("db", "current")).strip() == f"{HEAD} (head)"

    assert "zzz" in one_line_error(gateway("db", "downgrade", "zzz"))


def test_db_upgrade_takes_over_a_create_all_database(gateway: Gateway, db_path: Path) -> None:
    shutil.copy(FIXTURES / "create_all.sqlite", db_path)
    out = ok(gateway("db", "upgrade"))
    assert f"stamped {ORIGINAL}" in out and f"to {HEAD}" in out
    assert ok(gateway("db", "current")).strip() == f"{HEAD} (head)"


async def test_create_admin_with_password_from_stdin(migrated: Gateway, db_path: Path) -> None:
    ok(migrated("create-admin", "root", "--password-stdin", input="a-long-password\n"))
    users = await rows(db_path, User)
    assert [(u.username, u.admin) for u in users] == [("root", True)]
    assert users[0].password.startswith("$argon2id$")
    assert await login(db_path, "root", "a-long-password") == 200

    taken = migrated("create-admin", "root", "--password-stdin", input="another-password\n")
    assert "Username already taken" in one_line_error(taken)
    short = migrated("create-admin", "shorty", "--password-stdin", input="short\n")
    assert "at least 8" in one_line_error(short)
    no_tty = migrated("create-admin", "prompted", input="")
    assert "--password-stdin" in one_line_error(no_tty)


async def test_create_admin_if_none_prints_the_password_once(
    migrated: Gateway, db_path: Path
) -> None:
    first = ok(migrated("create-admin", "--if-none"))
    assert "username 'admin'" in first
    password = first.split("password ", 1)[1].split()[0]
    assert await login(db_path, "admin", password) == 200

    assert ok(migrated("create-admin", "--if-none")) == ""
    users = await rows(db_path, User)
    assert [u.username for u in users] == ["admin"]
    assert await login(db_path, "admin", password) == 200


async def test_apps_add_list_revoke(migrated: Gateway, db_path: Path) -> None:
    added = migrated("apps", "add", "web")
    token = ok(added).strip()
    assert len(token) >= 32 and token not in added.stderr
    stored = await rows(db_path, Application)
    assert [a.name for a in stored] == ["web"]
    token_hash = stored[0].token_hash
    assert token_hash != token and token not in token_hash
    assert token_hash == hashlib.sha256(token.encode()).hexdigest()

    ok(migrated("apps", "add", "legacy", "--token-stdin", input="the-original-token\n"))
    listed = ok(migrated("apps", "list"))
    assert token not in listed and "the-original-token" not in listed
    assert [line.split()[0] for line in listed.splitlines()[1:]] == ["web", "legacy"]
    assert all("active" in line for line in listed.splitlines()[1:])

    ok(migrated("apps", "revoke", "web"))
    after = ok(migrated("apps", "list")).splitlines()
    assert "revoked" in after[1] and "active" in after[2]
    assert "no application named 'nope'" in one_line_error(migrated("apps", "revoke", "nope"))

    empty = migrated("apps", "add", "blank", "--token-stdin", input="\n")
    assert "must not be empty" in one_line_error(empty)
    assert len(await rows(db_path, Application)) == 2


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DATABASE_URL": "oracle://scott@db/x"}, "DATABASE_URL"),
        ({"TOKEN_TTL_SECONDS": "a day"}, "TOKEN_TTL_SECONDS"),
        ({"APP_TOKENS_REQUIRED": "maybe"}, "APP_TOKENS_REQUIRED"),
        ({"GATEWAY_ENV": "production", "SECRET_KEY": "short"}, "SECRET_KEY"),
    ],
)
def test_bad_settings_are_one_line(gateway: Gateway, env: dict[str, str], named: str) -> None:
    assert named in one_line_error(gateway("db", "current", **env))


def test_database_problems_are_one_line(gateway: Gateway, free_tcp_port: int) -> None:
    refused = gateway("db", "upgrade", DATABASE_URL=f"postgresql://u@127.0.0.1:{free_tcp_port}/x")
    assert "database" in one_line_error(refused)
    not_migrated = gateway("apps", "list")
    assert "gateway db upgrade" in one_line_error(not_migrated)


def test_schema_prints_the_graphql_sdl(gateway: Gateway) -> None:
    sdl = ok(gateway("schema"))
    assert "directive @admin on FIELD_DEFINITION" in sdl
    assert "type Query" in sdl


def test_a_served_worker_keeps_its_startup_heap_out_of_the_collectors_passes(
    tmp_path: Path,
) -> None:
    """What a worker builds before serving lives as long as it does: frozen, so that no
    full collection walks it again under load (a pause for every request in flight);
    and the youngest generation waits for more than the objects of the requests in
    flight before a pass walks them."""
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    script = (
        "import gc\n"
        "from gateway.cli.asgi import worker_app\n"
        "from gateway.settings import Settings\n"
        f"worker_app(Settings(database_url={database_url!r}, secret_key={TEST_SECRET!r}))\n"
        "print(gc.get_freeze_count(), len(gc.get_objects()), *gc.get_threshold())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    frozen, watched, young, older, oldest = map(int, done.stdout.split())
    assert frozen > 50_000
    assert watched < frozen / 10
    assert (young, older, oldest) == (YOUNG_GENERATION_THRESHOLD, 10, 10)


@pytest.mark.parametrize(
    ("workers", "cores", "slots"), [(1, 2, 0), (2, 2, 2), (4, 2, 2), (3, 8, 8), (1, 8, 0)]
)
def test_served_workers_share_a_hashing_slot_per_core(
    monkeypatch: pytest.MonkeyPatch, workers: int, cores: int, slots: int
) -> None:
    """``gateway serve --workers N`` gives each worker a hashing thread per core, told
    through its environment unless set, and a slot per core that all of them share (so
    that together they hash no more passwords at once than there are cores); the slots'
    folder is gone when the server stops. One worker needs no slots."""
    import uvicorn

    served: list[Any] = []
    folders: list[str] = []
    seen: list[list[str]] = []

    def run(app: Any, **options: Any) -> None:
        served.append(app)
        folders.extend(filter(None, [os.environ.get(SLOTS_ENV)]))
        seen.append(sorted(os.listdir(folders[-1])) if folders else [])

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.setattr(gc, "freeze", lambda: None)  # not this test process's heap
    monkeypatch.setattr(gc, "set_threshold", lambda *_: None)  # nor its collector
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///:memory:")
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    monkeypatch.delenv("PASSWORD_HASHING_THREADS", raising=False)
    assert main(["serve", "--workers", str(workers)]) in (None, 0)
    assert os.environ["PASSWORD_HASHING_THREADS"] == str(cores)
    assert seen == [sorted(f"{kind}-{core}" for core in range(slots) for kind in ("slot", "want"))]
    assert SLOTS_ENV not in os.environ
    assert not any(os.path.exists(folder) for folder in folders)
    if workers == 1:
        assert served[0].state.settings.password_hashing_threads == cores
    else:
        assert served == ["gateway.cli.asgi:create"]

    monkeypatch.setenv("PASSWORD_HASHING_THREADS", "5")  # the operator's own number stands
    main(["serve", "--workers", str(workers)])
    assert os.environ["PASSWORD_HASHING_THREADS"] == "5"
