"""Automatic persisted queries (Apollo APQ) and the allow-list, in process and in Redis."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from gateway.graphql.persisted import sha256_of
from tests.conftest import MakeApp
from tests.support.actions import Actions
from tests.support.machine import unavailable

QUERY = "query Me { me { username } }"
REDIS_URL = os.environ.get("REDIS_URL_FOR_TESTS", "redis://127.0.0.1:6379/7")


def apq(sha: str, query: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}}}
    if query is not None:
        body["query"] = query
    return body


async def post(act: Actions, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    return await act.client.post("/graphql", json=body, headers=headers)


async def test_unknown_hash_then_register_then_hash_only(act: Actions) -> None:
    alice = await act.user_headers("alice")
    sha = sha256_of(QUERY)

    missing = await post(act, apq(sha), alice)
    assert missing.status_code == 200
    assert missing.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert missing.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    registered = await post(act, apq(sha, QUERY), alice)
    assert registered.json() == {"data": {"me": {"username": "alice"}}}

    by_hash = await post(act, apq(sha), alice)
    assert by_hash.json() == {"data": {"me": {"username": "alice"}}}

    # the same by GET, as CDNs like it
    params = {"extensions": f'{{"persistedQuery":{{"version":1,"sha256Hash":"{sha}"}}}}'}
    over_get = await act.client.get("/graphql", params=params, headers=alice)
    assert over_get.json() == {"data": {"me": {"username": "alice"}}}


async def test_an_extension_spelled_with_escapes_is_still_read(act: Actions) -> None:
    # Only a body that cannot name a persisted query skips the rewrite; JSON may spell
    # a key with \u escapes, and such a body is read like any other.
    alice = await act.user_headers("alice")
    sha = sha256_of(QUERY)
    escaped = '{"extensions": {"persisted\\u0051uery": {"version": 1, "sha256Hash": "%s"}}}'
    response = await act.client.post(
        "/graphql", content=(escaped % sha).encode(),
        headers=alice | {"content-type": "application/json"},
    )
    assert response.json()["errors"][0]["message"] == "PersistedQueryNotFound"


async def test_a_hash_that_does_not_match_the_query_is_refused(act: Actions) -> None:
    alice = await act.user_headers("alice")
    wrong = sha256_of("{ feed { id } }")
    response = await post(act, apq(wrong, QUERY), alice)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "provided sha does not match query"
    # and nothing was registered under either hash
    assert (await post(act, apq(wrong), alice)).json()["errors"][0]["message"] == (
        "PersistedQueryNotFound"
    )


async def test_allow_list_refuses_unregistered_operations_for_non_admins(
    make_app: MakeApp,
) -> None:
    app = await make_app(graphql_persisted_only=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        act = Actions(client, app)
        alice = await act.user_headers("alice")
        admin = await act.user_headers("admin", admin=True)
        sha = sha256_of(QUERY)

        for body in ({"query": QUERY}, apq(sha, QUERY)):
            refused = await post(act, body, alice)
            assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
            assert "data" not in refused.json() or refused.json()["data"] is None

        # an admin runs free-form, and registering puts the operation on the list
        assert (await post(act, apq(sha, QUERY), admin)).json() == {
            "data": {"me": {"username": "admin"}}
        }
        assert (await post(act, apq(sha), alice)).json() == {"data": {"me": {"username": "alice"}}}
        assert (await post(act, {"query": QUERY}, alice)).json() == {
            "data": {"me": {"username": "alice"}}
        }
        other = await post(act, {"query": "{ feed { id } }"}, alice)
        assert other.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.fixture
async def redis_url() -> str:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
        await client.flushdb()
    except Exception as exc:  # unreachable Redis: say why
        unavailable(f"Redis at {REDIS_URL} is unreachable: {exc}")
    finally:
        await client.aclose()
    return REDIS_URL


async def test_redis_store_is_shared_between_instances(make_app: MakeApp, redis_url: str) -> None:
    first = await make_app(redis_url=redis_url)
    second = await make_app(redis_url=redis_url)
    sha = sha256_of(QUERY)
    try:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a") as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://b") as b,
        ):
            alice = await Actions(a, first).user_headers("alice")
            assert (await a.post("/graphql", json=apq(sha, QUERY), headers=alice)).json() == {
                "data": {"me": {"username": "alice"}}
            }
            from_other = await b.post("/graphql", json=apq(sha), headers=alice)
            assert from_other.json() == {"data": {"me": {"username": "alice"}}}
    finally:
        for app in (first, second):
            await app.state.query_store.aclose()
            await app.state.login_throttle.aclose()
