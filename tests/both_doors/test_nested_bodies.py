"""Deeply nested JSON on every door that reads JSON: a clean 400 in the door's own format,
never the 500 that ``json.loads``'s RecursionError made of it, and nothing stored."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx
import pytest

from tests.support.actions import Actions

LISTS = b"[" * 100_000 + b"]" * 100_000  # 200 KB
OBJECTS = b'{"a":' * 3000 + b"1" + b"}" * 3000  # 15 KB
INSIDE = (
    b'{"title": "t", "url": "https://example.com/a.png", "username": "mallory", '
    b'"password": "mallory-password", "description": ' + OBJECTS + b"}"
)
BODIES = {"200 KB of lists": LISTS, "3000 objects": OBJECTS, "inside a valid object": INSIDE}
QUERY = "{ me { username } }"


def rest_refusal(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"message"} and body["message"], body


def graphql_refusal(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    errors = response.json()["errors"]
    assert errors and errors[0]["message"]
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.fixture
async def signed_in(act: Actions) -> dict[str, dict[str, str]]:
    admin = await act.user_headers("admin", admin=True)
    alice = await act.user_headers("alice")
    own = await act.create_template(alice, "alice's draft")
    return {"admin": admin, "alice": alice, "own": {"id": str(own["id"])}}


@pytest.mark.parametrize("name", BODIES)
@pytest.mark.parametrize(
    ("method", "path", "who"),
    [
        ("POST", "/login", "none"),
        ("POST", "/user", "admin"),
        ("POST", "/template", "alice"),
        ("PUT", "/template/{own}", "alice"),
    ],
)
async def test_rest_routes_refuse_deep_json_with_400(
    act: Actions, signed_in: dict[str, dict[str, str]], method: str, path: str, who: str,
    name: str,
) -> None:
    before = [(t.title, t.description) for t in await act.templates()], len(await act.users())
    headers = {"content-type": "application/json", **signed_in.get(who, {})}

    response = await act.client.request(
        method, path.format(own=signed_in["own"]["id"]), content=BODIES[name], headers=headers
    )

    rest_refusal(response)
    after = [(t.title, t.description) for t in await act.templates()], len(await act.users())
    assert after == before


@pytest.mark.parametrize("name", BODIES)
async def test_graphql_post_refuses_a_deep_body_with_400(
    act: Actions, signed_in: dict[str, dict[str, str]], name: str
) -> None:
    response = await act.client.post(
        "/graphql", content=BODIES[name],
        headers={"content-type": "application/json", **signed_in["alice"]},
    )
    graphql_refusal(response)


@pytest.mark.parametrize("field", ["variables", "extensions"])
async def test_graphql_refuses_deep_variables_and_extensions(
    act: Actions, signed_in: dict[str, dict[str, str]], field: str
) -> None:
    headers = signed_in["alice"]
    deep = OBJECTS.decode()
    body = f'{{"query": {json.dumps(QUERY)}, "{field}": {deep}}}'.encode()

    posted = await act.client.post(
        "/graphql", content=body, headers={"content-type": "application/json", **headers}
    )
    got = await act.client.get("/graphql", params={"query": QUERY, field: deep}, headers=headers)

    graphql_refusal(posted)
    graphql_refusal(got)


async def test_nesting_a_decoder_can_take_still_works(
    act: Actions, signed_in: dict[str, dict[str, str]]
) -> None:
    """Below the decoder's bound, nesting is only an unused variable: the query runs,
    and a REST field that is not a string is the usual 400."""
    headers = signed_in["alice"]
    variables: dict[str, Any] = {"unused": json.loads("[" * 200 + "]" * 200)}
    ran = await act.client.post(
        "/graphql", json={"query": QUERY, "variables": variables}, headers=headers
    )
    field = await act.client.post(
        "/template", json={"title": "t", "url": [[[["x"]]]]}, headers=headers
    )

    assert ran.json() == {"data": {"me": {"username": "alice"}}}
    assert (field.status_code, field.json()) == (400, {"message": "url must be a string"})


@pytest.mark.parametrize("field", ["feedConnection", "templatesConnection"])
async def test_a_cursor_of_deep_json_is_bad_input(
    act: Actions, signed_in: dict[str, dict[str, str]], field: str
) -> None:
    """A cursor is client-chosen text too: base64 of JSON, decoded by the same decoder."""
    cursor = base64.urlsafe_b64encode(b"[" * 5000).decode()
    query = "query($after: String) { " + field + "(after: $after) { totalCount } }"

    body = await act.graphql(query, signed_in["alice"], after=cursor)

    assert body["errors"][0]["message"] == "after is not a valid cursor"
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_persisted_query_with_variables_nested_too_deep_to_rewrite_is_400(
    act: Actions, signed_in: dict[str, dict[str, str]]
) -> None:
    """A hash-only request is rewritten to carry its stored query; variables nested past
    what the encoder takes (254 levels) are refused rather than re-encoded."""
    headers = signed_in["alice"]
    sha = hashlib.sha256(QUERY.encode()).hexdigest()
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": sha}}
    registered = await act.client.post(
        "/graphql", json={"query": QUERY, "extensions": persisted}, headers=headers
    )
    deep = "[" * 300 + "]" * 300
    body = f'{{"extensions": {json.dumps(persisted)}, "variables": {{"x": {deep}}}}}'

    response = await act.client.post(
        "/graphql", content=body.encode(), headers={"content-type": "application/json", **headers}
    )

    assert registered.json() == {"data": {"me": {"username": "alice"}}}
    graphql_refusal(response)
    assert response.json()["errors"][0]["message"] == "The GraphQL request is nested too deeply"
