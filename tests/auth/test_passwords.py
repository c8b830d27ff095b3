"""Passwords: every hash the original wrote still verifies, and becomes argon2id after."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from gateway.app import create_app
from gateway.auth.passwords import Passwords
from gateway.db import migrate
from gateway.db.models import User
from tests.conftest import FIXTURES
from tests.conftest import test_settings as make_settings

WERKZEUG = json.loads((FIXTURES / "werkzeug-hashes.json").read_text())
ROWS = json.loads((FIXTURES / "rows.json").read_text())
PASSWORDS = {u["username"]: u["password"] for u in ROWS["users"]}


def original_rows() -> list[tuple[str, str, str]]:
    """(file, password, stored hash) for every user of the original's database files."""
    cases = []
    for name in ("stamped.sqlite", "create_all.sqlite"):
        with sqlite3.connect(FIXTURES / name) as conn:
            for username, stored in conn.execute("SELECT username, password FROM user"):
                cases.append((f"{name}:{username}", PASSWORDS[username], stored))
    return cases


CASES = [
    pytest.param(c["password"], c["hash"], id=f"werkzeug-{c['werkzeug']}-{c['method']}")
    for c in WERKZEUG
] + [pytest.param(password, stored, id=label) for label, password, stored in original_rows()]


@pytest.fixture(scope="module")
def passwords() -> Passwords:
    return Passwords(memory_kib=1024, time_cost=1, parallelism=1)


@pytest.mark.parametrize(("password", "stored"), CASES)
async def test_original_hash_verifies_and_is_replaced_by_argon2id(
    passwords: Passwords, password: str, stored: str
) -> None:
    ok, new_hash = await passwords.verify(password, stored)
    assert ok
    assert new_hash is not None and new_hash.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert await passwords.verify(password, new_hash) == (True, None)

    assert await passwords.verify(password + "x", stored) == (False, None)
    assert await passwords.verify(password[:-1], stored) == (False, None)
    assert await passwords.verify("", stored) == (False, None)


@pytest.mark.parametrize(
    "stored", ["", "sha256$", "sha256$salt$zz", "pbkdf2:nohash:x$s$00", "scrypt:1:1$s$00", "$2b$x"]
)
async def test_malformed_stored_hash_is_a_failed_match(passwords: Passwords, stored: str) -> None:
    assert await passwords.verify("anything", stored) == (False, None)


async def test_login_on_taken_over_database_rehashes_to_argon2id(tmp_path: Path) -> None:
    """A real login on a copy of the original's database, migrated by the gateway."""
    path = tmp_path / "original.db"
    shutil.copy(FIXTURES / "stamped.sqlite", path)
    settings = make_settings(f"sqlite+aiosqlite:///{path}")
    await migrate.upgrade(settings)

    app = create_app(settings)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            for username, password in PASSWORDS.items():
                wrong = await client.get("/login", auth=(username, password + "x"))
                assert wrong.status_code == 401
                response = await client.get("/login", auth=(username, password))
                assert response.status_code == 200, response.text
                assert response.json()["token"]
        async with app.state.sessions() as session:
            stored = dict((await session.execute(sa.select(User.username, User.password))).all())
    finally:
        await app.state.engine.dispose()
    assert set(stored) == set(PASSWORDS)
    assert all(h.startswith("$argon2id$") for h in stored.values()), stored


@pytest.mark.parametrize("threads", [1, 2])
async def test_no_more_passwords_hash_at_once_than_the_hashing_threads(threads: int) -> None:
    """A login storm hashes on ``threads`` threads and no more: argon2 is all CPU, so
    more threads than the cores would only make every event loop wait for one."""
    passwords = Passwords(memory_kib=1024, time_cost=1, parallelism=1, threads=threads)
    at_once = most = 0
    lock = threading.Lock()
    hash_once = passwords.context.hash

    def hash_slowly(secret: str) -> str:
        nonlocal at_once, most
        with lock:
            at_once += 1
            most = max(most, at_once)
        time.sleep(0.02)
        try:
            return hash_once(secret)
        finally:
            with lock:
                at_once -= 1

    passwords.context.hash = hash_slowly  # type: ignore[method-assign]
    hashes = await asyncio.gather(*(passwords.hash(f"password-{n}") for n in range(6)))
    assert len(set(hashes)) == 6
    assert most == threads


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")
async def test_passwords_hash_only_on_cycles_nothing_else_wants() -> None:
    """The hashing threads run under SCHED_IDLE: a login storm keeps the cores busy, yet
    an event loop with a request to answer gets one at once."""
    passwords = Passwords(memory_kib=1024, time_cost=1, parallelism=1, threads=1)
    await passwords.hash("a password")
    hashing = [t for t in threading.enumerate() if t.name.startswith("argon2")]
    assert hashing
    assert all(os.sched_getscheduler(t.native_id) == os.SCHED_IDLE for t in hashing)
    assert os.sched_getscheduler(0) != os.SCHED_IDLE  # the event loop's thread is not
