"""Passwords: every hash the original wrote still verifies, and becomes argon2id after."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sqlite3
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from gateway.app import create_app
from gateway.auth.hashing import HashingSlots
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


async def most_hashing_at_once(passwords: Passwords, logins: int = 6) -> int:
    """How many of ``logins`` simultaneous hashes ran at once, at most."""
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
    hashes = await asyncio.gather(*(passwords.hash(f"password-{n}") for n in range(logins)))
    assert len(set(hashes)) == logins
    return most


@pytest.mark.parametrize("threads", [1, 2])
async def test_no_more_passwords_hash_at_once_than_the_hashing_threads(threads: int) -> None:
    """A login storm hashes on ``threads`` threads and no more: argon2 is all CPU, so
    more threads than the cores would only make every event loop wait for one."""
    passwords = Passwords(memory_kib=1024, time_cost=1, parallelism=1, threads=threads)
    assert await most_hashing_at_once(passwords) == threads


@pytest.mark.parametrize("cores", [1, 2])
async def test_no_more_passwords_hash_at_once_than_the_shared_slots(cores: int) -> None:
    """With slots shared among workers, a worker's threads hash in at most as many at
    once as there are slots (cores), and in all of them when the logins are all its."""
    with HashingSlots.made(cores) as folder:
        slots = HashingSlots(folder)
        assert len(slots) == cores
        passwords = Passwords(
            memory_kib=1024, time_cost=1, parallelism=1, threads=3, slots=slots
        )
        assert await most_hashing_at_once(passwords) == cores
    assert not folder.exists()


HOLD_SLOTS = """
import fcntl, os, sys
folder, names = sys.argv[1], sys.argv[2:]
held = {name: os.open(os.path.join(folder, name), os.O_RDWR) for name in names}
for fd in held.values():
    fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
for line in sys.stdin:
    fcntl.flock(held[line.strip()], fcntl.LOCK_UN)
    print("let go", flush=True)
"""


async def test_a_slot_another_process_holds_is_waited_for() -> None:
    """The slots are shared across processes: while another worker hashes in every one
    of them, a hash here waits, and it runs once a slot is let go."""
    with HashingSlots.made(2) as folder:
        passwords = Passwords(
            memory_kib=1024, time_cost=1, parallelism=1, threads=3, slots=HashingSlots(folder)
        )
        other = await asyncio.create_subprocess_exec(
            sys.executable, "-c", HOLD_SLOTS, str(folder), "slot-0", "slot-1",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        assert other.stdin is not None and other.stdout is not None
        try:
            assert await other.stdout.readline() == b"held\n"
            hashing = asyncio.ensure_future(passwords.hash("a password"))
            done, _ = await asyncio.wait([hashing], timeout=0.5)
            assert not done  # every slot is the other process's
        finally:
            other.stdin.close()  # it ends, letting go of its slots
            await other.wait()
        assert (await asyncio.wait_for(hashing, 10)).startswith("$argon2id$")


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


async def test_passwords_still_hash_when_the_slots_are_gone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A cleaner of temporary files may remove the slots' folder under a running server:
    sign-ins then hash without a slot (and say so once) rather than fail."""
    with HashingSlots.made(2) as folder:
        slots = HashingSlots(folder)
    assert not folder.exists()
    passwords = Passwords(memory_kib=1024, time_cost=1, parallelism=1, threads=3, slots=slots)
    with caplog.at_level(logging.WARNING, logger="gateway"):
        hashes = await asyncio.gather(*(passwords.hash(f"password-{n}") for n in range(4)))
    assert all(h.startswith("$argon2id$") for h in hashes)
    warnings = [r for r in caplog.records if "hashing slots unavailable" in r.getMessage()]
    assert len(warnings) == 1


def hashing_threads_recorded(passwords: Passwords, seconds: float = 0.02) -> list[str]:
    """Make each hash of ``passwords`` take ``seconds``; the names of the threads that
    hash, in the order they start."""
    names: list[str] = []
    hash_once = passwords.context.hash

    def hash_slowly(secret: str) -> str:
        names.append(threading.current_thread().name)
        time.sleep(seconds)
        return hash_once(secret)

    passwords.context.hash = hash_slowly  # type: ignore[method-assign]
    return names


async def test_hashes_waiting_for_the_cores_another_worker_holds_run_on_one_thread() -> None:
    """While another worker hashes on every core, this worker's sign-ins wait on its
    one home thread; as a core frees, they run there in turn: no other thread of this
    worker is woken to wait for the core too."""
    with HashingSlots.made(2) as folder:
        passwords = Passwords(
            memory_kib=1024, time_cost=1, parallelism=1, threads=3, slots=HashingSlots(folder)
        )
        names = hashing_threads_recorded(passwords)
        other = await asyncio.create_subprocess_exec(
            sys.executable, "-c", HOLD_SLOTS, str(folder), "slot-0", "slot-1",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        assert other.stdin is not None and other.stdout is not None
        try:
            assert await other.stdout.readline() == b"held\n"
            hashing = asyncio.gather(*(passwords.hash(f"password-{n}") for n in range(5)))
            await asyncio.sleep(0.2)
            assert names == []  # every core is the other worker's
            other.stdin.write(b"slot-0\n")
            assert await other.stdout.readline() == b"let go\n"
            assert len(await asyncio.wait_for(hashing, 10)) == 5
        finally:
            other.stdin.close()
            await other.wait()
    assert len(names) == 5
    assert set(names) == {"argon2-home"}


async def test_a_worker_that_waits_for_a_core_gets_it_after_one_hash() -> None:
    HASH = 0.1  # seconds per hash, far above the time the threads take to hand over
    """A worker that keeps every core hashing lets go of one after its current hash as
    soon as another worker waits for it: the other's sign-in is not held up until the
    storm is over."""
    with HashingSlots.made(2) as folder:
        busy, other = (
            Passwords(
                memory_kib=1024, time_cost=1, parallelism=1, threads=2,
                slots=HashingSlots(folder),
            )
            for _ in range(2)
        )
        hashing_threads_recorded(busy, seconds=HASH)
        hashing_threads_recorded(other, seconds=HASH)
        storm_over = asyncio.Event()

        async def sign_ins() -> None:
            while not storm_over.is_set():
                await busy.hash("a password")

        storm = [asyncio.create_task(sign_ins()) for _ in range(6)]
        try:
            await asyncio.sleep(0.3)  # the busy worker hashes on both cores
            started = time.monotonic()
            await asyncio.wait_for(other.hash("another password"), 5)
            waited = time.monotonic() - started
        finally:
            storm_over.set()
            await asyncio.gather(*storm)
    assert waited < HASH * 3  # its own hash, after one of the busy worker's at most


@pytest.mark.parametrize("shared", [False, True])
async def test_warming_up_hashes_once_on_every_hashing_thread(shared: bool) -> None:
    """A worker starts by hashing once on each of its hashing threads, so that the
    memory argon2 leaves with a thread is taken at start, not when a storm first needs
    that thread; the hash is then the one an unknown username is verified against."""
    with HashingSlots.made(2) as folder:
        passwords = Passwords(
            memory_kib=1024, time_cost=1, parallelism=1, threads=3,
            slots=HashingSlots(folder) if shared else None,
        )
        names = hashing_threads_recorded(passwords, seconds=0.01)
        await passwords.warm()
        assert len(names) == 3
        assert len(set(names)) == 3
        await passwords.verify_dummy("a password")
        assert len(names) == 3  # no new dummy hash
