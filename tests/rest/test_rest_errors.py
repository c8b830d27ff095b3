"""REST failures as JSON (SPEC §5): routing misses, bad bodies, size limit, bugs, probes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from tests import conftest
from tests.support.actions import Actions

MIB = 1024 * 1024


def assert_json_message(response: httpx.Response, status: int, message: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"message"}
    if message is not None:
        assert body["message"] == message


async def test_unknown_path_is_404(act: Actions) -> None:
    headers = await act.user_headers("alice")
    for path in ("/nope", "/user/a/b", "/template/1/x", "/templates", "/login/x"):
        assert_json_message(await act.client.get(path, headers=headers), 404, "Not found")
    assert_json_message(await act.client.get("/nope"), 404, "Not found")


async def test_wrong_method_is_405(act: Actions) -> None:
    headers = await act.user_headers("alice")
    for method, path, allow in (
        ("PATCH", "/template", "GET, HEAD, POST"),
        ("DELETE", "/user", "GET, HEAD, POST"),
        ("PUT", "/template", "GET, HEAD, POST"),
        ("POST", "/", "GET, HEAD"),
        ("PATCH", "/template/1", "DELETE, GET, HEAD, PUT"),
        ("POST", "/user/some-id", "DELETE, GET, HEAD, PUT"),
        ("POST", "/healthz", "GET, HEAD"),
        ("DELETE", "/login", "GET, HEAD, POST"),
        ("GET", "/logout", "POST"),
    ):
        response = await act.client.request(method, path, headers=headers)
        assert_json_message(response, 405, "Method not allowed")
        assert response.headers["allow"] == allow, (method, path)


@pytest.mark.parametrize(
    "content",
    [b"{", b'{"title": "x",}', b"[1, 2]", b'"text"', b"42", b"null", b"\xff\xfe{}"],
    ids=["open", "trailing-comma", "array", "string", "number", "null", "bad-bytes"],
)
async def test_malformed_json_is_400(act: Actions, content: bytes) -> None:
    alice = await act.user_headers("alice")
    response = await act.client.post(
        "/template", content=content, headers=alice | {"content-type": "application/json"}
    )
    assert_json_message(response, 400)
    assert await act.templates() == []


async def test_unsupported_body_type_is_415(act: Actions) -> None:
    alice = await act.user_headers("alice")
    response = await act.client.post(
        "/template", content=b"title=x", headers=alice | {"content-type": "text/plain"}
    )
    assert_json_message(response, 415)


async def oversized(chunk: bytes, total: int) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield chunk
        sent += len(chunk)


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
async def test_body_over_1_mib_is_413(act: Actions, content_type: str) -> None:
    alice = await act.user_headers("alice")
    headers = alice | {"content-type": content_type}
    big = b"a" * (MIB + 1)
    response = await act.client.post("/template", content=big, headers=headers)
    assert "content-length" in response.request.headers
    assert_json_message(response, 413)

    # Streamed without Content-Length (chunked): counted as it arrives.
    response = await act.client.post(
        "/template", content=oversized(b"a" * 65536, MIB + 65536), headers=headers
    )
    assert "content-length" not in response.request.headers
    assert_json_message(response, 413)
    assert await act.templates() == []

    # Just under the limit is parsed as usual (and is a 400 for its content).
    response = await act.client.post("/template", content=b"a" * (MIB - 1), headers=headers)
    assert response.status_code == 400


async def test_login_body_over_1_mib_is_413(act: Actions) -> None:
    response = await act.client.post(
        "/login",
        content=oversized(b"a" * 65536, 2 * MIB),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_json_message(response, 413)


async def test_healthz_and_readyz(act: Actions) -> None:
    response = await act.client.get("/healthz")
    assert response.status_code == 200
    response = await act.client.get("/readyz")
    assert response.status_code == 200


@pytest.fixture
async def offline_app() -> AsyncIterator[Starlette]:
    closed_port = "postgresql+asyncpg://postgres@127.0.0.1:1/h3_offline"
    app = create_app(conftest.test_settings(closed_port, db_pool_timeout=2.0))
    yield app
    await app.state.engine.dispose()


async def test_readyz_503_and_api_503_when_database_is_unreachable(
    offline_app: Starlette,
) -> None:
    transport = httpx.ASGITransport(app=offline_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        assert (await client.get("/healthz")).status_code == 200
        assert_json_message(await client.get("/readyz"), 503, "Service unavailable")
        response = await client.get("/login", auth=("alice", "alice-password"))
        assert_json_message(response, 503, "Service unavailable")


async def test_readyz_recovers_without_restart(tmp_path: Path) -> None:
    folder = tmp_path / "not-yet"
    app = create_app(conftest.test_settings(f"sqlite+aiosqlite:///{folder / 'gateway.db'}"))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            assert_json_message(await client.get("/readyz"), 503, "Service unavailable")
            folder.mkdir()
            response = await client.get("/readyz")
            assert response.status_code == 200
    finally:
        await app.state.engine.dispose()
