"""The GraphQL door over HTTP: whole screens in a constant number of SQL statements, abuse
limits, refusals before any operation runs, masked errors, and the same data as REST."""

from __future__ import annotations

import gc
import logging
import re
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.auth.tokens import issue_access_token
from gateway.db.models import MemeTemplate
from gateway.services import posts
from tests import conftest
from tests.conftest import TEST_SECRET, MakeApp
from tests.support.actions import Actions

SCREEN = """{ me { username } feed(limit: %d) {
  id title author { username templates(limit: 5) { id } } } }"""
# feed: 1 (the caller's row, which `me` takes too, the page with its authors and the
# count) + the authors' templates: 1
SCREEN_STATEMENTS = 2


def sql_statements(app: Starlette) -> AbstractContextManager[list[str]]:
    """Every statement the app sends to the database while the block runs."""
    statements: AbstractContextManager[list[str]] = app.state.database.statements()
    return statements


async def gql(
    client: httpx.AsyncClient,
    query: str,
    headers: dict[str, str] | None = None,
    **variables: Any,
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers or {}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def seed_templates(act: Actions, authors: list[int], start: int, count: int) -> None:
    async with act.session() as session:
        session.add_all(
            MemeTemplate(
                title=f"t{n}",
                url=f"https://example.com/{n}.png",
                user_id=authors[n % len(authors)],
                approved=True,
            )
            for n in range(start, start + count)
        )
        await session.commit()


async def test_screen_costs_the_same_statements_for_10_and_100_templates(
    act: Actions, app: Starlette
) -> None:
    authors = [(await act.create_user(f"author{n:02}")).id for n in range(20)]
    viewer = await act.user_headers("viewer")
    await seed_templates(act, [a for a in authors if a is not None], 0, 10)
    await gql(act.client, SCREEN % 10, viewer)  # warm: pool connection made

    with sql_statements(app) as ten:
        body = await gql(act.client, SCREEN % 100, viewer)
    assert len(body["data"]["feed"]) == 10
    await seed_templates(act, [a for a in authors if a is not None], 10, 90)
    with sql_statements(app) as hundred:
        body = await gql(act.client, SCREEN % 100, viewer)

    feed = body["data"]["feed"]
    assert len(feed) == 100
    assert {t["author"]["username"] for t in feed} == {f"author{n:02}" for n in range(20)}
    assert all(len(t["author"]["templates"]) == 5 for t in feed)
    assert body["data"]["me"] == {"username": "viewer"}
    assert len(ten) == len(hundred) == SCREEN_STATEMENTS, hundred


@pytest.mark.parametrize(
    "query",
    [
        "{ me { username admin } feed(limit: 5) { id } }",
        "{ feed(limit: 5) { id } me { username admin } }",
        "{ a: me { username } b: me { admin } templates(limit: 5) { id } }",
    ],
)
async def test_me_beside_a_list_takes_the_caller_from_the_lists_statement(
    act: Actions, app: Starlette, query: str
) -> None:
    viewer = await act.user_headers("viewer")
    await act.create_template(viewer, "mine")
    await gql(act.client, query, viewer)  # warm
    with sql_statements(app) as statements:
        body = await gql(act.client, query, viewer)
    assert "errors" not in body, body
    assert len(statements) == 1, statements
    users = [v for k, v in body["data"].items() if k in ("me", "a", "b")]
    assert all(u.get("username", "viewer") == "viewer" for u in users)
    assert all(u.get("admin", False) is False for u in users)


@pytest.mark.parametrize(
    ("field", "statements"),
    [
        ("feed(limit: 10)", 1),  # a full page: no count, the list shows no total
        ("templates(limit: 10, offset: 10)", 1),
        ("feed(limit: 50)", 1),  # the last, partial page
        ("templates(limit: 10, offset: 1000)", 2),  # past the end: the caller read apart
    ],
)
async def test_a_list_page_is_one_statement_full_or_not(
    act: Actions, app: Starlette, field: str, statements: int
) -> None:
    viewer = await act.user_headers("viewer")
    author = (await act.create_user("author")).id
    assert author is not None
    await seed_templates(act, [author], 0, 30)
    query = "{ me { username } " + field + " { title } }"
    await gql(act.client, query, viewer)  # warm
    with sql_statements(app) as sent:
        body = await gql(act.client, query, viewer)
    assert "errors" not in body, body
    assert body["data"]["me"] == {"username": "viewer"}
    items = next(v for k, v in body["data"].items() if k != "me")
    limit, offset = (int(x) for x in ([*re.findall(r"\d+", field), "0"])[:2])
    assert len(items) == max(0, min(limit, 30 - offset))
    assert len(sent) == statements, sent


async def test_a_page_past_the_end_still_refuses_a_revoked_token(act: Actions) -> None:
    viewer = await act.user_headers("viewer")
    assert (await act.client.post("/logout", headers=viewer)).status_code == 200
    body = await act.graphql("{ templates(limit: 10, offset: 1000) { id } }", viewer)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "fields", ["me { username }", "a: users(limit: 1) { id }", 'user(publicId: "{id}") { id }']
)
async def test_fields_beside_an_admin_field_share_its_reading_of_the_caller(
    act: Actions, app: Starlette, fields: str
) -> None:
    """An @admin field, ``me`` and the other fields that need the signed-in user read the
    caller's row once between them, not once each."""
    admin = await act.user_headers("boss", admin=True)
    public_id = (await act.create_user("other")).public_id
    alone = "{ users(limit: 5) { username } }"
    both = alone[:-1] + fields.replace("{id}", public_id) + " }"
    counts = []
    for query in (alone, both, alone, both):
        with sql_statements(app) as statements:
            body = await gql(act.client, query, admin)
        assert "errors" not in body, body
        counts.append(len(statements))
    # what the field reads beyond the caller: a page of users and their count; one user
    extra = {"me": 0, "a:": 2, "user": 1}[fields.split(" ")[0].split("(")[0]]
    assert counts[1] == counts[0] + extra == counts[3] == counts[2] + extra, counts


async def test_me_alone_reads_the_caller_itself(act: Actions, app: Starlette) -> None:
    viewer = await act.user_headers("viewer")
    with sql_statements(app) as statements:
        body = await gql(act.client, "{ me { username } }", viewer)
    assert body == {"data": {"me": {"username": "viewer"}}}
    assert len(statements) == 1


@pytest.mark.parametrize("list_field", ["feed(limit: 5) { id }", "template(id: 999) { id }"])
async def test_me_beside_a_list_after_logout_is_unauthenticated(
    act: Actions, list_field: str
) -> None:
    """The list's read finds the token revoked, so ``me`` reads the row itself and is
    refused too: no field answers for a logged-out token (a refused non-null ``feed``
    ends the operation, and graphql-core reports its error alone)."""
    viewer = await act.user_headers("viewer")
    assert await gql(act.client, "mutation { logout }", viewer) == {"data": {"logout": True}}
    body = await gql(act.client, f"{{ me {{ username }} {list_field} }}", viewer)
    codes = {(tuple(e["path"]), e["extensions"]["code"]) for e in body["errors"]}
    assert codes
    if list_field.startswith("template("):
        assert (("me",), "UNAUTHENTICATED") in codes
    assert {code for _, code in codes} == {"UNAUTHENTICATED"}
    assert body["data"] is None


async def test_a_screen_leaves_no_reference_cycle_to_the_garbage_collector(
    act: Actions,
) -> None:
    """What a GraphQL request makes is freed as soon as it is done: a cycle (the executor
    and its helpers, the context and the request's state) would wait for the garbage
    collector's full passes, which cost the screens a fifth of their throughput."""
    viewer = await act.user_headers("viewer")
    await act.create_template(viewer, "mine")
    screen = "{ me { username } feed(limit: 5) { id title author { username } } }"
    await gql(act.client, screen, viewer)
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(3):
            assert "errors" not in await gql(act.client, screen, viewer)
        gc.collect()
        left = {type(o).__module__ + "." + type(o).__qualname__ for o in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert not {name for name in left if name.startswith(("gateway.", "graphql.", "strawberry."))}


async def test_user_templates_with_different_pages_in_one_query(act: Actions) -> None:
    owner = await act.user_headers("owner")
    for n in range(4):
        await act.create_template(owner, f"t{n}")
    body = await gql(
        act.client,
        "{ me { first: templates(limit: 2) { title } rest: templates(offset: 2) { title }"
        " bad: templates(limit: 0) { title } } }",
        owner,
    )
    assert body["data"] is None  # me is non-null, so the bad page nulls the whole screen
    [error] = body["errors"]
    assert (error["message"], error["extensions"]["code"], error["path"]) == (
        "limit must be between 1 and 1000", "BAD_USER_INPUT", ["me", "bad"],
    )
    body = await gql(
        act.client,
        "{ me { first: templates(limit: 2) { title } rest: templates(offset: 2) { title } } }",
        owner,
    )
    assert body["data"]["me"] == {
        "first": [{"title": "t0"}, {"title": "t1"}],
        "rest": [{"title": "t2"}, {"title": "t3"}],
    }


async def test_author_is_null_once_the_owner_is_deleted(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    owner = await act.user_headers("owner")
    made = await act.create_template(owner, "orphan")
    owner_id = next(u.public_id for u in await act.users() if u.username == "owner")
    assert (await act.client.delete(f"/user/{owner_id}", headers=admin)).status_code == 200
    body = await gql(
        act.client, "query($id: Int!) { template(id: $id) { title username author { id } } }",
        admin, id=made["id"],
    )
    assert body == {"data": {"template": {"title": "orphan", "username": None, "author": None}}}


def deep_query(depth: int) -> str:
    """feed { author { templates { author { … } } } } with ``depth`` levels of fields."""
    inner = "id"
    for level in range(depth - 1, 0, -1):
        name = "feed" if level == 1 else ("author" if level % 2 == 0 else "templates")
        inner = f"{name} {{ {inner} }}"
    return "{ " + inner + " }"


def aliases_query(count: int, fields: str = "id") -> str:
    return "{ " + " ".join(f"a{n}: me {{ {fields} }}" for n in range(count)) + " }"


def tokens_query(count: int) -> str:
    """A valid query of at least ``count`` tokens (9 per aliased ``me``)."""
    return aliases_query(count // 9 + 1, "id username admin publicId")


LIMIT_CASES = [
    pytest.param(deep_query(20), "GRAPHQL_VALIDATION_FAILED",
                 "'anonymous' exceeds maximum operation depth of 10", id="20-deep"),
    pytest.param(aliases_query(100), "GRAPHQL_VALIDATION_FAILED",
                 "100 aliases found. Allowed: 30", id="100-aliases"),
    pytest.param(tokens_query(5000), "GRAPHQL_PARSE_FAILED",
                 "Syntax Error: Document contains more than 2000 tokens. Parsing aborted.",
                 id="5000-tokens"),
]


@pytest.mark.parametrize(("query", "code", "message"), LIMIT_CASES)
async def test_limits_reject_before_any_resolver_runs(
    act: Actions, app: Starlette, query: str, code: str, message: str
) -> None:
    viewer = await act.user_headers("viewer")
    with sql_statements(app) as statements:
        body = await gql(act.client, query, viewer)
    assert body["data"] is None
    assert [(e["message"], e["extensions"]["code"]) for e in body["errors"]] == [
        (message, code)
    ]
    # Every resolver here needs the caller's row first: no statement means none ran.
    assert statements == []


async def test_limits_come_from_settings(make_app: MakeApp) -> None:
    app = await make_app(
        graphql_max_depth=25, graphql_max_aliases=600, graphql_max_tokens=6000
    )
    act = Actions(httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                    base_url="http://gateway.test"), app)
    async with act.client:
        viewer = await act.user_headers("viewer")
        await act.create_template(viewer, "mine")
        for query in (deep_query(20), aliases_query(100), tokens_query(5000)):
            body = await gql(act.client, query, viewer)
            assert "errors" not in body, body


INTROSPECTION = "{ __schema { queryType { name } } }"


async def test_introspection_on_by_default(act: Actions) -> None:
    body = await gql(act.client, INTROSPECTION)
    assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


async def test_introspection_off_when_switched_off(make_app: MakeApp) -> None:
    app = await make_app(graphql_introspection=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        body = await gql(client, INTROSPECTION)
        assert body["data"] is None
        assert {e["extensions"]["code"] for e in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
        assert body["errors"][0]["message"] == (
            "GraphQL introspection has been disabled, but the requested query contained "
            "the field '__schema'."
        )
        typename = await gql(client, "{ __typename }")  # not introspection of the schema
        assert typename == {"data": {"__typename": "Query"}}


async def test_rest_and_graphql_share_the_data(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    by_rest = await act.create_template(admin, "made over REST")
    body = await gql(
        act.client,
        'mutation { createTemplate(title: "made over GraphQL",'
        ' url: "https://example.com/g.png", description: "d") { id title approved author'
        " { username } } }",
        admin,
    )
    by_graphql = body["data"]["createTemplate"]
    assert by_graphql["approved"] is True
    assert by_graphql["author"] == {"username": "admin"}

    feed = await gql(act.client, "{ feed { id title username posted } }", admin)
    assert [(t["id"], t["title"], t["username"]) for t in feed["data"]["feed"]] == [
        (by_rest["id"], "made over REST", "admin"),
        (by_graphql["id"], "made over GraphQL", "admin"),
    ]
    assert feed["data"]["feed"][0]["posted"].endswith("+00:00")
    rest = (await act.client.get("/", headers=admin)).json()["templates"]
    assert [(t["id"], t["title"], t["description"]) for t in rest] == [
        (by_rest["id"], "made over REST", None),
        (by_graphql["id"], "made over GraphQL", "d"),
    ]


async def test_graphql_login_token_works_on_rest_and_logout_ends_it(act: Actions) -> None:
    await act.create_user("owner")
    body = await gql(
        act.client,
        'mutation { login(username: "owner", password: "owner-password")'
        " { token user { username admin } } }",
    )
    login = body["data"]["login"]
    assert login["user"] == {"username": "owner", "admin": False}
    headers = {"Authorization": f"Bearer {login['token']}"}
    assert (await act.client.get("/", headers=headers)).status_code == 200
    assert await gql(act.client, "mutation { logout }", headers) == {"data": {"logout": True}}
    assert (await act.client.get("/", headers=headers)).status_code == 401


# --- HTTP-level refusals: a 4xx with a GraphQL-shaped body, never a 500 ----------------


async def test_mutations_are_refused_over_get(act: Actions) -> None:
    owner = await act.user_headers("owner")
    response = await act.client.get(
        "/graphql", params={"query": "mutation { logout }"}, headers=owner
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"message": "mutations are not allowed when using GET",
         "extensions": {"code": "BAD_USER_INPUT"}}
    ]
    assert (await act.client.get("/", headers=owner)).status_code == 200  # not logged out
    query = await act.client.get("/graphql", params={"query": "{ me { username } }"},
                                 headers=owner)
    assert query.json() == {"data": {"me": {"username": "owner"}}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"42", "The GraphQL request must be a JSON object"),
        (b"null", "The GraphQL request must be a JSON object"),
        (b"[]", "The GraphQL request must be a JSON object"),
        (b'[{"query": "{ me { id } }"}]', "The GraphQL request must be a JSON object"),
        (b'"{ me { id } }"', "The GraphQL request must be a JSON object"),
        (b"true", "The GraphQL request must be a JSON object"),
        (b"{bad json", "Unable to parse request body as JSON"),
        (b"\xff\xfe{}", "Unable to parse request body as JSON"),
        (b"", "Unable to parse request body as JSON"),
        (b"{}", "No GraphQL query found in the request"),
        (b'{"query": 42}',
         "The GraphQL operation's `query` must be a string or null, if provided."),
        (b'{"query": "{ me { id } }", "variables": []}',
         "The GraphQL operation's `variables` must be an object or null, if provided."),
    ],
)
async def test_bad_bodies_are_400_with_a_graphql_error(
    client: httpx.AsyncClient, body: bytes, message: str
) -> None:
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "data": None, "errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]
    }


async def test_other_http_refusals(client: httpx.AsyncClient) -> None:
    put = await client.put("/graphql", json={"query": "{ me { id } }"})
    assert (put.status_code, put.headers["allow"]) == (405, "GET, POST")
    assert put.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    text = await client.post("/graphql", content=b"{ me { id } }",
                             headers={"content-type": "text/plain"})
    assert (text.status_code, text.json()["errors"][0]["message"]) == (
        400, "Unsupported content type"
    )
    no_query = await client.get("/graphql", headers={"accept": "application/json"})
    assert (no_query.status_code, no_query.json()["errors"][0]["message"]) == (
        400, "No GraphQL query found in the request"
    )
    plain = await client.post("/graphql", json={"query": "{ __typename }"})
    assert plain.json() == {"data": {"__typename": "Query"}}  # at /graphql itself


async def test_graphiql_for_a_browser(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "graphiql" in page.text.lower()


async def test_graphql_validation_and_variable_errors_keep_their_message(
    act: Actions,
) -> None:
    viewer = await act.user_headers("viewer")
    unknown = await gql(act.client, "{ nope }", viewer)
    assert unknown["errors"][0]["message"] == "Cannot query field 'nope' on type 'Query'."
    assert unknown["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    syntax = await gql(act.client, "{ me {", viewer)
    assert syntax["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    wrong_type = await gql(act.client, "query($id: Int!) { template(id: $id) { id } }",
                           viewer, id="seven")
    assert wrong_type["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "seven" in wrong_type["errors"][0]["message"]
    huge = await gql(act.client, "{ template(id: 99999999999) { id } }", viewer)
    assert huge["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_unexpected_errors_are_masked_and_logged(
    act: Actions, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    viewer = await act.user_headers("viewer")

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret detail from a bug")

    monkeypatch.setattr(posts, "list_items", broken)
    with caplog.at_level(logging.ERROR, logger="gateway.graphql"):
        body = await gql(act.client, "{ me { username } feed { id } }", viewer)
    assert body["data"] is None
    assert body["errors"][0]["message"] == "Internal server error"
    assert body["errors"][0]["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "secret detail" not in str(body)
    assert "secret detail from a bug" in caplog.text
    assert "Traceback" in caplog.text


async def test_database_outage_is_unavailable() -> None:
    settings = conftest.test_settings(
        "postgresql+asyncpg://postgres@127.0.0.1:9/h2_nowhere", db_pool_timeout=2
    )
    app = create_app(settings)
    token = issue_access_token(secret=TEST_SECRET, public_id="someone", version=0,
                               ttl_seconds=60)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://g.test") as client:
            response = await client.post(
                "/graphql", json={"query": "{ me { username } }"}, headers={"x-access-token": token}
            )
    finally:
        await app.state.engine.dispose()
    assert response.status_code == 503  # as every API request during an outage
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["message"] == "Service unavailable"
    assert body["errors"][0]["extensions"] == {"code": "UNAVAILABLE"}
