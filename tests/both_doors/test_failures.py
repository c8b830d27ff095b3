"""What a failure becomes, through both doors: one decision (gateway.failures), each door's
own format. A bug is a masked 500 logged once with its traceback; an outage a 503 logged
as one warning; whatever fails before GraphQL runs an operation is still GraphQL-shaped."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.auth.tokens import issue_access_token
from gateway.graphql.context import Context
from gateway.graphql.persisted import sha256_of
from gateway.services import posts
from tests import conftest
from tests.conftest import TEST_SECRET
from tests.support.actions import Actions

QUERY = "{ me { username } }"
INTERNAL = {"message": "Internal server error"}
UNAVAILABLE = {"message": "Service unavailable"}
# Nothing listens on port 9 (discard): connecting fails at once, as in an outage.
NOWHERE = "postgresql+asyncpg://postgres@127.0.0.1:9/gw_nowhere"


def graphql_error(message: str, code: str) -> dict[str, Any]:
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}


def tracebacks(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info and text in str(r.exc_info[1])]


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


async def test_a_bug_in_an_endpoint_is_one_masked_500_logged_once(
    act: Actions, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await act.user_headers("alice")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail: the feed exploded")

    monkeypatch.setattr(posts, "list_page", broken)
    with caplog.at_level(logging.INFO):
        response = await act.client.get("/", headers={**alice, "x-request-id": "bug-7"})

    assert (response.status_code, response.json()) == (500, INTERNAL)
    assert response.headers["x-request-id"] == "bug-7"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"]
    assert "secret detail" not in response.text
    assert len(tracebacks(caplog, "the feed exploded")) == 1


async def test_a_bug_before_graphql_runs_an_operation_is_graphql_shaped(
    act: Actions, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await act.user_headers("alice")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail: no context")

    monkeypatch.setattr(Context, "for_request", broken)
    with caplog.at_level(logging.INFO):
        response = await act.client.post("/graphql", json={"query": QUERY}, headers=alice)

    assert response.status_code == 500
    assert response.json() == graphql_error("Internal server error", "INTERNAL_SERVER_ERROR")
    assert response.headers["x-request-id"]
    assert len(tracebacks(caplog, "no context")) == 1


async def test_a_streamed_graphql_body_over_the_limit_is_a_graphql_413(act: Actions) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "'
        for _ in range(20):
            yield b"x" * 65536  # no Content-Length: the limit trips while reading

    response = await act.client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    assert response.json() == graphql_error("Request body too large", "PAYLOAD_TOO_LARGE")


@pytest.fixture
async def offline() -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """An app whose database cannot be reached, and a well-signed token for it."""
    app = create_app(conftest.test_settings(NOWHERE, db_pool_timeout=2.0,
                                            graphql_persisted_only=True))
    token = issue_access_token(secret=TEST_SECRET, public_id="someone", version=0,
                               ttl_seconds=60)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://g.test") as client:
            yield client, {"x-access-token": token}
    finally:
        await app.state.engine.dispose()


async def test_an_outage_is_503_on_both_doors_and_one_warning_each(
    offline: tuple[httpx.AsyncClient, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    client, token = offline
    with caplog.at_level(logging.INFO):
        rest = await client.get("/template", headers=token)
        # With GRAPHQL_PERSISTED_ONLY the persisted-query layer asks the database whether
        # the caller is an admin, before Strawberry sees the request.
        graphql = await client.post("/graphql", json={"query": QUERY}, headers=token)

    assert (rest.status_code, rest.json()) == (503, UNAVAILABLE)
    assert graphql.status_code == 503
    assert graphql.json() == graphql_error("Service unavailable", "UNAVAILABLE")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING
                and "service unavailable" in r.getMessage()]
    assert len(warnings) == 2
    assert not [r for r in caplog.records if r.exc_info]


async def test_the_persisted_query_store_unreachable_is_a_graphql_503(
    make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app: Starlette = await make_app(redis_url="redis://127.0.0.1:1/0")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://g.test") as client:
        alice = await Actions(client, app).user_headers("alice")
        persisted = {"version": 1, "sha256Hash": sha256_of(QUERY)}
        with caplog.at_level(logging.INFO):
            response = await client.post(
                "/graphql", json={"extensions": {"persistedQuery": persisted}}, headers=alice
            )

    assert response.status_code == 503
    assert response.json() == graphql_error("Service unavailable", "UNAVAILABLE")
    assert not [r for r in caplog.records if r.exc_info]
