"""Browser hardening headers on every response, errors included, and CORS from settings."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import MakeApp
from tests.support.actions import Actions, actions_for

HARDENING = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def assert_hardened(response: httpx.Response) -> None:
    for name, value in HARDENING.items():
        assert response.headers.get(name) == value, (response.request.url, name)
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no inline script, no eval
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/docs", 200),
        ("GET", "/static/swagger/swagger-ui.css", 200),
        ("GET", "/static/nothing-here.js", 404),
        ("GET", "/no/such/path", 404),
        ("PATCH", "/template", 405),
        ("GET", "/template", 401),
        ("POST", "/graphql", 200),
    ],
)
async def test_every_kind_of_response_is_hardened(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    body = {"query": "{ me { username } }"} if path == "/graphql" else None
    response = await client.request(method, path, json=body)
    assert response.status_code == status
    assert_hardened(response)


async def test_the_graphiql_page_and_a_body_too_large_are_hardened(make_app: MakeApp) -> None:
    app = await make_app(max_body_bytes=16)
    async with actions_for(app) as act:
        page = await act.client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text
        assert_hardened(page)
        too_large = await act.client.post("/login", json={"username": "x" * 100})
        assert too_large.status_code == 413
        assert_hardened(too_large)


async def test_cors_allows_only_the_configured_origins(make_app: MakeApp) -> None:
    app = await make_app(cors_origins=("https://app.example",))
    async with actions_for(app) as act:
        headers = await act.user_headers("user")
        preflight = await act.client.options(
            "/template",
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "x-access-token, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "x-access-token" in allowed and "x-application-token" in allowed
        assert_hardened(preflight)

        listed = await act.client.get(
            "/template", headers=headers | {"origin": "https://app.example"}
        )
        assert listed.headers["access-control-allow-origin"] == "https://app.example"
        exposed = listed.headers["access-control-expose-headers"].lower()
        assert "x-total-count" in exposed and "link" in exposed

        stranger = await act.client.get(
            "/template", headers=headers | {"origin": "https://evil.example"}
        )
        assert stranger.status_code == 200
        assert "access-control-allow-origin" not in stranger.headers


async def test_without_cors_origins_no_origin_is_allowed(act: Actions) -> None:
    headers = await act.user_headers("user")
    response = await act.client.get("/", headers=headers | {"origin": "https://app.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
