"""Login throttling through both doors, with counts in-process and in Redis."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from starlette.applications import Starlette

from gateway.throttle import MemoryStore
from tests.actions import Actions, password_of
from tests.conftest import MakeApp
from tests.live import ADMIN, LiveGateway, prepare_database
from tests.machine import unavailable

REDIS_URL = os.environ.get("REDIS_URL_FOR_TESTS") or "redis://127.0.0.1:6379/7"
LOCKED = {"message": "Too many login attempts"}
LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }"


def redis_or_skip() -> str:
    """REDIS_URL_FOR_TESTS, flushed (that database only); skipped when unreachable,
    except on CI, where it fails."""
    try:
        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        unavailable(f"Redis at {REDIS_URL} is unreachable: {exc}")
    return REDIS_URL


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """SQLite only: the counts never touch the database, and login itself runs on every
    database in test_rest_auth and the fuzz tests."""
    return sqlite_url


@pytest.fixture(params=["memory", "redis"])
def store_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The settings that choose where counts live."""
    if request.param == "memory":
        return {}
    return {"redis_url": redis_or_skip()}


@pytest.fixture
async def throttled(
    make_app: MakeApp, store_settings: dict[str, Any]
) -> AsyncIterator[tuple[Starlette, Actions]]:
    app = await make_app(**store_settings)
    async with _client(app) as client:
        act = Actions(client, app)
        await act.create_user("alice")
        await act.create_user("bob")
        yield app, act
    await app.state.login_throttle.aclose()


def _client(app: Starlette, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.test")


async def fail(client: httpx.AsyncClient, username: str = "alice") -> httpx.Response:
    return await client.get("/login", auth=(username, "wrong-password"))


async def test_sixth_failed_login_gets_429_with_retry_after(
    throttled: tuple[Starlette, Actions],
) -> None:
    _, act = throttled
    for _ in range(5):
        assert (await fail(act.client)).status_code == 401

    locked = await fail(act.client)

    assert locked.status_code == 429
    assert locked.json() == LOCKED
    assert 1 <= int(locked.headers["retry-after"]) <= 300


async def test_right_password_during_lock_is_refused_too(
    throttled: tuple[Starlette, Actions],
) -> None:
    _, act = throttled
    for _ in range(5):
        await fail(act.client)

    response = await act.client.get("/login", auth=("alice", password_of("alice")))

    assert response.status_code == 429
    assert response.json() == LOCKED


async def test_success_resets_the_username_count(throttled: tuple[Starlette, Actions]) -> None:
    _, act = throttled
    for _ in range(4):
        await fail(act.client)
    await act.login("alice")

    statuses = [(await fail(act.client)).status_code for _ in range(6)]

    assert statuses == [401] * 5 + [429]


async def test_lock_is_per_username(throttled: tuple[Starlette, Actions]) -> None:
    _, act = throttled
    for _ in range(6):
        await fail(act.client, "alice")

    assert (await fail(act.client, "bob")).status_code == 401
    await act.login("bob")


async def test_unknown_usernames_are_counted_like_known_ones(
    throttled: tuple[Starlette, Actions],
) -> None:
    _, act = throttled
    statuses = [(await fail(act.client, "nobody")).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


async def test_username_count_ignores_case(throttled: tuple[Starlette, Actions]) -> None:
    _, act = throttled
    for name in ["alice", "Alice", "ALICE", "alicE", "aLice"]:
        await fail(act.client, name)
    assert (await fail(act.client, "alice")).status_code == 429


async def test_get_and_post_login_share_the_count(throttled: tuple[Starlette, Actions]) -> None:
    _, act = throttled
    for _ in range(2):
        await fail(act.client)
    wrong = {"username": "alice", "password": "wrong-password"}
    for _ in range(2):
        assert (await act.client.post("/login", data=wrong)).status_code == 401
    assert (await act.client.post("/login", json=wrong)).status_code == 401

    response = await act.client.post("/login", json=wrong)

    assert response.status_code == 429
    assert response.json() == LOCKED


async def test_per_address_limit_spans_usernames(
    make_app: MakeApp, store_settings: dict[str, Any]
) -> None:
    app = await make_app(login_max_failures_per_address=3, **store_settings)
    try:
        async with _client(app, "10.0.0.1") as first, _client(app, "10.0.0.2") as second:
            await Actions(first, app).create_user("carol")
            statuses = [(await fail(first, name)).status_code for name in ["a", "b", "c", "d"]]
            # Another username from the same address: refused, even with the right password.
            same_address = await first.get("/login", auth=("carol", password_of("carol")))
            other_address = await second.get("/login", auth=("carol", password_of("carol")))
    finally:
        await app.state.login_throttle.aclose()

    assert statuses == [401, 401, 401, 429]
    assert same_address.status_code == 429
    assert other_address.status_code == 200


async def test_a_success_does_not_reset_the_address_count(
    make_app: MakeApp, store_settings: dict[str, Any]
) -> None:
    app = await make_app(login_max_failures_per_address=3, **store_settings)
    try:
        async with _client(app) as client:
            act = Actions(client, app)
            await act.create_user("dave")
            for name in ["a", "b"]:
                await fail(client, name)
            await act.login("dave")
            third = await fail(client, "c")
            fourth = await fail(client, "e")
    finally:
        await app.state.login_throttle.aclose()

    assert third.status_code == 401
    assert fourth.status_code == 429


async def test_lock_ends_with_the_window(make_app: MakeApp, store_settings: dict[str, Any]) -> None:
    app = await make_app(login_window_seconds=1, login_max_failures=2, **store_settings)
    try:
        async with _client(app) as client:
            act = Actions(client, app)
            await act.create_user("erin")
            for _ in range(2):
                await fail(client, "erin")
            locked = await fail(client, "erin")
            time.sleep(1.5)  # longer than the window; asserts no duration
            await act.login("erin")
    finally:
        await app.state.login_throttle.aclose()

    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "1"


async def test_graphql_login_shares_the_count_with_rest(
    throttled: tuple[Starlette, Actions],
) -> None:
    _, act = throttled
    for _ in range(3):
        await fail(act.client)
    variables = {"u": "alice", "p": "wrong-password"}
    for _ in range(2):
        failed = await act.client.post("/graphql", json={"query": LOGIN, "variables": variables})
        assert failed.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    right = {"u": "alice", "p": password_of("alice")}
    response = await act.client.post("/graphql", json={"query": LOGIN, "variables": right})

    error = response.json()["errors"][0]
    assert error["message"] == LOCKED["message"]
    assert error["extensions"]["code"] == "TOO_MANY_REQUESTS"
    assert (await fail(act.client)).status_code == 429


async def test_unreachable_redis_fails_open_with_a_warning(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    app = await make_app(redis_url="redis://127.0.0.1:1/0")
    try:
        async with _client(app) as client:
            act = Actions(client, app)
            await act.create_user("frank")
            with caplog.at_level(logging.WARNING, logger="gateway.throttle"):
                statuses = [(await fail(client, "frank")).status_code for _ in range(7)]
            await act.login("frank")
    finally:
        await app.state.login_throttle.aclose()

    assert statuses == [401] * 7
    warnings = [r for r in caplog.records if r.name == "gateway.throttle"]
    assert len(warnings) == 1  # once a minute, not once per login
    assert "not throttling" in warnings[0].getMessage()


async def test_memory_store_stays_bounded() -> None:
    store = MemoryStore(max_keys=3)
    for key in ["a", "b", "c", "d", "e"]:
        await store.add([key], window=60)

    counts = await store.counts(["a", "b", "c", "d", "e"])

    assert [count for count, _ in counts] == [0, 0, 1, 1, 1]


@pytest.fixture
def shared_redis() -> Iterator[str]:
    url = redis_or_skip()
    yield url
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


@pytest.mark.slow
def test_two_processes_sharing_redis_share_the_count(tmp_path: Path, shared_redis: str) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    prepare_database(database)
    with (
        LiveGateway(database, tmp_path, REDIS_URL=shared_redis) as a,
        LiveGateway(database, tmp_path, REDIS_URL=shared_redis) as b,
    ):
        wrong = (ADMIN[0], "wrong-password")
        statuses = [
            httpx.get(f"{gw.base_url}/login", auth=wrong, timeout=30).status_code
            for gw in [a, b, a, b, a]
        ]
        on_b = httpx.get(f"{b.base_url}/login", auth=wrong, timeout=30)
        on_a = httpx.get(f"{a.base_url}/login", auth=ADMIN, timeout=30)

    assert statuses == [401] * 5
    assert on_b.status_code == 429
    assert on_b.json() == LOCKED
    assert on_a.status_code == 429
