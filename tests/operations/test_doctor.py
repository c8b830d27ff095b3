"""`gateway doctor`: each state it reports, and its exit status, through the CLI."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gateway import cli
from gateway.app import create_app
from gateway.auth.tokens import issue_access_token
from gateway.db import migrate
from gateway.settings import Settings
from tests.conftest import FIXTURES
from tests.support.actions import Actions

ORIGINAL = json.loads((FIXTURES / "original-tokens.json").read_text())
ORIGINAL_KEY: str = ORIGINAL["secret_key"]
ALL_TOKENS = [t["token"] for t in ORIGINAL["tokens"]]
GOOD_TOKENS = [t["token"] for t in ORIGINAL["tokens"] if "note" not in t]
STRONG_KEY = "a-new-gateway-secret-key-of-at-least-32-bytes"
FUTURE = (datetime.now(UTC) + timedelta(days=40)).strftime("%Y-%m-%d")
ENV_NAMES = (
    "DATABASE_URL",
    "SQLALCHEMY_DATABASE_URI",
    "DB_USERNAME",
    "DB_PASS",
    "DB_HOST",
    "DB_NAME",
    "GATEWAY_ENV",
    "SECRET_KEY",
    "LEGACY_SECRET_KEY",
    "LEGACY_TOKENS_UNTIL",
    "APP_TOKENS_REQUIRED",
)


@dataclass
class Outcome:
    status: int
    lines: list[str]

    def about(self, topic: str) -> list[str]:
        return [line for line in self.lines if line[6:].startswith(f"{topic}:")]

    def line(self, topic: str) -> str:
        [line] = self.about(topic)
        return line


Gateway = Callable[..., Outcome]


@pytest.fixture
def gateway(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Gateway:
    """Run ``gateway ARGS…`` in-process with exactly ``env`` (no .env), like a shell would."""
    monkeypatch.chdir(tmp_path)

    def run(*argv: str, env: dict[str, str], stdin: str = "") -> Outcome:
        for name in ENV_NAMES:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        capsys.readouterr()
        status = cli.main(list(argv))
        return Outcome(status, capsys.readouterr().out.splitlines())

    return run


def copy_of(tmp_path: Path, fixture: str) -> str:
    target = tmp_path / fixture
    shutil.copy(FIXTURES / fixture, target)
    return f"sqlite:///{target}"


@pytest.fixture
def upgraded(gateway: Gateway, tmp_path: Path) -> str:
    """A copy of the original's migrated database, upgraded to head."""
    url = copy_of(tmp_path, "stamped.sqlite")
    assert gateway("db", "upgrade", env={"SQLALCHEMY_DATABASE_URI": url}).status == 0
    return url


def switched(url: str, **more: str) -> dict[str, str]:
    """The production-style set-up: a strong key for new tokens, the original's kept."""
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": STRONG_KEY,
        "LEGACY_SECRET_KEY": ORIGINAL_KEY,
        "LEGACY_TOKENS_UNTIL": FUTURE,
    } | more


# --- the database and its schema ----------------------------------------------------


def test_an_unreachable_database_blocks_start_up(gateway: Gateway) -> None:
    outcome = gateway("doctor", env={"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/h8_no"})
    assert outcome.status == 1
    assert outcome.line("database").startswith("FAIL  database: unreachable (")
    assert outcome.lines[-1] == "start-up is blocked: fix the FAIL lines"


def test_a_missing_sqlite_file_is_reported_not_created(gateway: Gateway, tmp_path: Path) -> None:
    outcome = gateway("doctor", env={"DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"})
    assert outcome.status == 1
    assert outcome.line("database").startswith("FAIL  database: no SQLite file at ")
    assert "run `gateway db upgrade`" in outcome.line("schema")
    assert not (tmp_path / "none.db").exists()


def test_the_originals_migrated_database_needs_an_upgrade(gateway: Gateway, tmp_path: Path) -> None:
    outcome = gateway(
        "doctor", env={"SQLALCHEMY_DATABASE_URI": copy_of(tmp_path, "stamped.sqlite")}
    )
    assert outcome.status == 1
    assert outcome.line("database") == "ok    database: reachable"
    assert outcome.line("schema") == (
        "FAIL  schema: the original app's revision eca8ddca17c7: run `gateway db upgrade`"
    )
    assert outcome.line("passwords").startswith(
        "note  passwords: 4 of 4 users still have the original's (werkzeug) hashes"
    )


def test_the_originals_create_all_database_needs_an_upgrade(
    gateway: Gateway, tmp_path: Path
) -> None:
    url = copy_of(tmp_path, "create_all.sqlite")
    outcome = gateway("doctor", env={"SQLALCHEMY_DATABASE_URI": url})
    assert outcome.status == 1
    assert outcome.line("schema").startswith(
        "FAIL  schema: made by the original app's create_all() (no alembic_version)"
    )


def test_at_head_nothing_blocks(gateway: Gateway, upgraded: str) -> None:
    outcome = gateway("doctor", env=switched(upgraded))
    assert outcome.status == 0, outcome.lines
    assert outcome.line("schema") == f"ok    schema: at head {migrate.head_revision()}"
    assert outcome.line("SECRET_KEY") == f"ok    SECRET_KEY: set ({len(STRONG_KEY)} bytes)"
    assert not [line for line in outcome.lines if line.startswith("FAIL")]
    assert outcome.lines[-1] == "ready to serve"


def test_an_unknown_revision_blocks(gateway: Gateway, upgraded: str) -> None:
    with sqlite3.connect(upgraded.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE alembic_version SET version_num = 'abc123def456'")
    outcome = gateway("doctor", env=switched(upgraded))
    assert outcome.status == 1
    assert outcome.line("schema").startswith("FAIL  schema: unknown revision abc123def456")


def test_legacy_hashes_are_counted_until_each_user_logs_in(gateway: Gateway, upgraded: str) -> None:
    async def log_in(username: str, password: str) -> None:
        app = create_app(Settings.from_env())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            assert (await client.get("/login", auth=(username, password))).status_code == 200
        await app.state.engine.dispose()

    before = gateway("doctor", env=switched(upgraded))
    asyncio.run(log_in("alice", "alice-pass-1"))
    after = gateway("doctor", env=switched(upgraded))
    assert before.line("passwords").startswith("note  passwords: 4 of 4 users")
    assert after.line("passwords").startswith("note  passwords: 3 of 4 users")


async def test_a_database_made_by_the_gateways_models(
    gateway: Gateway, act: Actions, db_url: str
) -> None:
    """On every database of the matrix (the tests build theirs with create_all())."""
    await act.create_user("someone")
    outcome = await asyncio.to_thread(gateway, "doctor", env={"DATABASE_URL": db_url})
    assert outcome.line("database") == "ok    database: reachable"
    assert outcome.line("schema").startswith("warn  schema: current tables but no alembic_version")
    assert outcome.line("passwords") == "ok    passwords: all 1 users have argon2 hashes"
    assert outcome.status == 0


# --- tokens ------------------------------------------------------------------------


def test_a_token_sample_that_verifies(gateway: Gateway, upgraded: str) -> None:
    good = gateway("doctor", "--tokens-stdin", env=switched(upgraded), stdin="\n".join(GOOD_TOKENS))
    mixed = gateway("doctor", "--tokens-stdin", env=switched(upgraded), stdin="\n".join(ALL_TOKENS))
    assert good.line("tokens") == (
        "ok    tokens: 4 given, 4 verify (4 of the original's shape, with LEGACY_SECRET_KEY), "
        "4 name existing users"
    )
    assert good.status == 0
    # One names no user, one is signed with another key.
    assert mixed.line("tokens") == (
        "warn  tokens: 6 given, 5 verify (5 of the original's shape, with LEGACY_SECRET_KEY), "
        "4 name existing users; the others will get 401"
    )
    assert mixed.status == 0


@pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")
def test_the_original_key_kept_as_secret_key(gateway: Gateway, upgraded: str) -> None:
    env = {"SQLALCHEMY_DATABASE_URI": upgraded, "SECRET_KEY": ORIGINAL_KEY}
    outcome = gateway("doctor", "--tokens-stdin", env=env, stdin="\n".join(GOOD_TOKENS))
    assert outcome.line("SECRET_KEY").startswith(
        "warn  SECRET_KEY: 25 bytes: enough outside production, but GATEWAY_ENV=production"
    )
    assert outcome.about("tokens") == [
        "ok    tokens: 4 given, 4 verify (4 of the original's shape, with SECRET_KEY), "
        "4 name existing users",
        "warn  tokens: the original's tokens verify, but legacy tokens are off, so they will "
        "get 401: set LEGACY_TOKENS_UNTIL",
    ]


def test_gateway_tokens_in_the_sample_are_told_apart(gateway: Gateway, upgraded: str) -> None:
    ours = issue_access_token(
        secret=STRONG_KEY, public_id=ORIGINAL["tokens"][0]["public_id"], version=0, ttl_seconds=60
    )
    stdin = "\n".join([ours, GOOD_TOKENS[0]])
    outcome = gateway("doctor", "--tokens-stdin", env=switched(upgraded), stdin=stdin)
    assert outcome.line("tokens") == (
        "ok    tokens: 2 given, 2 verify (1 of the original's shape, with LEGACY_SECRET_KEY) "
        "(1 gateway tokens, with SECRET_KEY), 2 name existing users"
    )


def test_a_token_sample_that_does_not_verify_blocks(gateway: Gateway, upgraded: str) -> None:
    env = switched(upgraded, LEGACY_SECRET_KEY="not-the-original-key")
    outcome = gateway("doctor", "--tokens-stdin", env=env, stdin="\n".join(GOOD_TOKENS))
    assert outcome.status == 1
    assert outcome.line("tokens") == (
        "FAIL  tokens: 4 given, 0 verify, 0 name existing users: LEGACY_SECRET_KEY is not "
        "the key the original app signed them with"
    )


def test_an_empty_token_sample(gateway: Gateway, upgraded: str) -> None:
    outcome = gateway("doctor", "--tokens-stdin", env=switched(upgraded), stdin="\n\n")
    assert outcome.line("tokens") == "warn  tokens: none given on stdin (one token per line)"


@pytest.mark.parametrize(
    ("until", "expected"),
    [
        (None, "note  legacy tokens: off (LEGACY_TOKENS_UNTIL unset)"),
        (FUTURE, f"ok    legacy tokens: accepted until {FUTURE} 00:00:00 UTC ("),
        ("2020-01-01", "warn  legacy tokens: off: LEGACY_TOKENS_UNTIL 2020-01-01 00:00:00 UTC"),
    ],
    ids=["unset", "ahead", "passed"],
)
def test_legacy_tokens_state(
    gateway: Gateway, upgraded: str, until: str | None, expected: str
) -> None:
    env = switched(upgraded)
    del env["LEGACY_TOKENS_UNTIL"]
    outcome = gateway("doctor", env=env | ({"LEGACY_TOKENS_UNTIL": until} if until else {}))
    assert outcome.line("legacy tokens").startswith(expected)
    assert outcome.status == 0
    if until == FUTURE:
        assert outcome.line("legacy tokens").endswith("verified with LEGACY_SECRET_KEY")


# --- application tokens --------------------------------------------------------------


def test_required_app_tokens_with_none_registered_block(gateway: Gateway, upgraded: str) -> None:
    env = switched(upgraded, APP_TOKENS_REQUIRED="true")
    blocked = gateway("doctor", env=env)
    added = gateway(
        "apps",
        "add",
        "cli",
        "--token-stdin",
        env=env,
        stdin="5f0c1c1e-0c2b-4f4e-9a55-1f0d6b1e7a10\n",
    )
    ready = gateway("doctor", env=env)
    assert blocked.status == 1
    assert blocked.line("app tokens").startswith(
        "FAIL  app tokens: APP_TOKENS_REQUIRED=true but no active application is registered"
    )
    assert added.status == 0
    assert ready.line("app tokens") == (
        "ok    app tokens: required; 1 active application(s), 0 revoked"
    )
    assert ready.status == 0


def test_required_app_tokens_before_the_upgrade(gateway: Gateway, tmp_path: Path) -> None:
    env = {
        "SQLALCHEMY_DATABASE_URI": copy_of(tmp_path, "stamped.sqlite"),
        "APP_TOKENS_REQUIRED": "true",
    }
    outcome = gateway("doctor", env=env)
    assert outcome.line("app tokens").startswith(
        "FAIL  app tokens: APP_TOKENS_REQUIRED=true but there is no application table yet"
    )


# --- settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LEGACY_TOKENS_UNTIL": "soon"}, "FAIL  settings: LEGACY_TOKENS_UNTIL: expected an ISO"),
        (
            {"GATEWAY_ENV": "production", "SECRET_KEY": ORIGINAL_KEY},
            "FAIL  settings: SECRET_KEY: required in production and must be at least 32 bytes",
        ),
        ({"DATABASE_URL": "oracle://x/y"}, "FAIL  settings: DATABASE_URL: unsupported"),
    ],
    ids=["bad date", "short key in production", "unknown scheme"],
)
def test_a_bad_setting_is_one_line_and_exit_2(
    gateway: Gateway, env: dict[str, str], expected: str
) -> None:
    outcome = gateway("doctor", env=env)
    assert outcome.status == 2
    [line] = outcome.lines
    assert line.startswith(expected)


def test_production_with_the_original_key_kept_aside(gateway: Gateway, upgraded: str) -> None:
    env = switched(upgraded, GATEWAY_ENV="production")
    outcome = gateway("doctor", "--tokens-stdin", env=env, stdin="\n".join(GOOD_TOKENS))
    assert outcome.status == 0, outcome.lines
    assert outcome.line("settings").startswith("ok    settings: GATEWAY_ENV=production")
    assert outcome.line("tokens").startswith("ok    tokens: 4 given, 4 verify")
