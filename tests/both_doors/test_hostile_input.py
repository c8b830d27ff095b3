"""Hostile input on every REST route: each case is a 4xx with a JSON ``{"message"}`` body,
and no row of any table changes (a snapshot of every row is compared around each call)."""

from __future__ import annotations

import base64
import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from sqlalchemy import select

from gateway.db.models import Application, MemeTemplate, User
from tests.conftest import TEST_SECRET
from tests.support.actions import Actions

BIG = "x" * 100_000
LONG = "x" * 10_000  # httpx refuses URLs over 64 KB
NUL = "a\x00b"
FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}
GOOD_URL = "https://example.com/ok.png"


@dataclass
class Case:
    """One hostile request. ``who`` picks the token; ``path`` may name ``{own}`` (alice's
    unapproved template), ``{approved}`` (an admin's) and ``{pid}`` (alice's public_id)."""

    name: str
    method: str
    path: str
    who: str = "alice"
    kwargs: dict[str, Any] = field(default_factory=dict)


def raw(body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    return {"content": body, "headers": headers}


def json_text(text: str) -> dict[str, Any]:
    """A JSON body sent byte for byte (lone surrogates survive as ``\\ud800`` escapes)."""
    return {"content": text.encode(), "headers": JSON}


def hostile_template_bodies() -> list[tuple[str, dict[str, Any]]]:
    return [
        ("missing all", {"data": {}}),
        ("missing url", {"data": {"title": "t"}}),
        ("missing title", {"json": {"url": GOOD_URL}}),
        ("null title", {"json": {"title": None, "url": GOOD_URL}}),
        ("int title", {"json": {"title": 5, "url": GOOD_URL}}),
        ("list url", {"json": {"title": "t", "url": [GOOD_URL]}}),
        ("object description", {"json": {"title": "t", "url": GOOD_URL, "description": {}}}),
        ("bool title", {"json": {"title": True, "url": GOOD_URL}}),
        ("100 KB title", {"data": {"title": BIG, "url": GOOD_URL}}),
        ("100 KB url", {"json": {"title": "t", "url": "https://x.com/" + BIG}}),
        ("100 KB description", {"json": {"title": "t", "url": GOOD_URL, "description": BIG}}),
        ("NUL title", {"data": {"title": NUL, "url": GOOD_URL}}),
        ("NUL url", {"json": {"title": "t", "url": "https://x.com/\x00"}}),
        ("NUL description", {"json": {"title": "t", "url": GOOD_URL, "description": NUL}}),
        ("lone surrogate", json_text('{"title": "\\ud800", "url": "https://x.com/a"}')),
        ("lone surrogate url", json_text('{"title": "t", "url": "https://x.com/\\udfff"}')),
        ("non-UTF-8 form", raw(b"title=\xff\xfe&url=https://x.com/a", FORM)),
        ("non-UTF-8 escape", raw(b"title=%FF%FE&url=https://x.com/a", FORM)),
        ("non-UTF-8 JSON", raw(b'{"title": "\xff", "url": "https://x.com/a"}', JSON)),
        ("javascript url", {"data": {"title": "t", "url": "javascript:alert(1)"}}),
        ("JAVASCRIPT url", {"json": {"title": "t", "url": "JavaScript:alert(1)"}}),
        ("spaced javascript", {"json": {"title": "t", "url": " javascript:alert(1)"}}),
        ("data url", {"json": {"title": "t", "url": "data:text/html,<script>1</script>"}}),
        ("vbscript url", {"json": {"title": "t", "url": "vbscript:msgbox(1)"}}),
        ("file url", {"json": {"title": "t", "url": "file:///etc/passwd"}}),
        ("newline url", {"json": {"title": "t", "url": "https://x.com/\nSet-Cookie: a"}}),
        ("JSON array", json_text("[1, 2, 3]")),
        ("JSON number", json_text("42")),
        ("malformed JSON", json_text('{"title": ')),
        ("xml body", raw(b"<title>t</title>", {"content-type": "application/xml"})),
    ]


def cases() -> list[Case]:
    table: list[Case] = []
    # --- login ---
    for name, headers in [
        ("garbage base64", {"Authorization": "Basic !!!not-base64!!!"}),
        ("base64 without colon", {"Authorization": "Basic " + base64.b64encode(b"x").decode()}),
        ("non-UTF-8 basic", {"Authorization": "Basic " + base64.b64encode(b"\xff:\xfe").decode()}),
        ("NUL basic", {"Authorization": "Basic " + base64.b64encode(b"ali\x00ce:pw").decode()}),
        ("100 KB basic", {"Authorization": "Basic " + base64.b64encode(
            f"alice:{BIG}".encode()).decode()}),
        ("empty basic", {"Authorization": "Basic "}),
        ("bearer on login", {"Authorization": "Bearer abc"}),
    ]:
        table.append(Case(f"login {name}", "GET", "/login", "none", {"headers": headers}))
    for name, kwargs in [
        ("json types", {"json": {"username": 1, "password": ["alice-password"]}}),
        ("json null", {"json": {"username": None, "password": None}}),
        ("surrogate", json_text('{"username": "\\ud800", "password": "x"}')),
        ("NUL form", {"data": {"username": "alice\x00", "password": "alice-password"}}),
        ("100 KB form", {"data": {"username": BIG, "password": BIG}}),
        ("non-UTF-8 form", raw(b"username=\xff&password=\xfe", FORM)),
        ("malformed json", json_text('{"username": "alice"')),
        ("json array", json_text('["alice", "alice-password"]')),
    ]:
        table.append(Case(f"login POST {name}", "POST", "/login", "none", kwargs))

    # --- users ---
    user_bodies: list[tuple[str, dict[str, Any]]] = [
        ("missing", {"data": {}}),
        ("missing password", {"json": {"username": "mallory"}}),
        ("int username", {"json": {"username": 7, "password": "mallory-password"}}),
        ("list password", {"json": {"username": "mallory", "password": ["a" * 10]}}),
        ("100 KB username", {"data": {"username": BIG, "password": "mallory-password"}}),
        ("100 KB password", {"data": {"username": "mallory", "password": BIG}}),
        ("NUL username", {"data": {"username": NUL, "password": "mallory-password"}}),
        ("newline username", {"json": {"username": "mal\nlory", "password": "mallory-pw"}}),
        ("surrogate username", json_text('{"username": "\\ud800", "password": "mallory-pw"}')),
        ("non-UTF-8 form", raw(b"username=\xffm&password=mallory-password", FORM)),
        ("duplicate", {"data": {"username": "alice", "password": "alice-password"}}),
        ("short password", {"data": {"username": "mallory", "password": "1234567"}}),
    ]
    for name, kwargs in user_bodies:
        table.append(Case(f"create user {name}", "POST", "/user", "admin", kwargs))
    table.append(Case("create user as non-admin", "POST", "/user", "alice",
                      {"data": {"username": "mallory", "password": "mallory-password"}}))
    for name, params in paging_params():
        table.append(Case(f"list users {name}", "GET", "/user", "admin", {"params": params}))
    for name, public_id in [
        ("NUL", "%00"),
        ("10 KB", LONG),
        ("non-UTF-8", "%FF%FE"),
        ("traversal", "..%2F..%2Fetc"),
        ("sql", "' OR '1'='1"),
        ("surrogate escape", "%ED%A0%80"),
    ]:
        for method in ("GET", "PUT", "DELETE"):
            table.append(Case(f"{method} user {name}", method, f"/user/{public_id}", "admin"))
    for method in ("GET", "PUT", "DELETE"):
        table.append(Case(f"{method} user by non-admin", method, "/user/{pid}", "alice"))

    # --- templates ---
    for name, kwargs in hostile_template_bodies():
        table.append(Case(f"create template {name}", "POST", "/template", "alice", kwargs))
        table.append(Case(f"update template {name}", "PUT", "/template/{own}", "alice", kwargs))
    good = {"data": {"title": "hijack", "url": GOOD_URL}}
    table.append(Case("update someone else's", "PUT", "/template/{own}", "bob", good))
    table.append(Case("update approved as owner", "PUT", "/template/{approved}", "bob", good))
    table.append(Case("delete someone else's", "DELETE", "/template/{own}", "bob"))
    for name, template_id in [
        ("negative", "-1"),
        ("zero", "0"),
        ("2^31", str(2**31)),
        ("huge", "9" * 40),
        ("float", "1.5"),
        ("exponent", "1e3"),
        ("hex", "0x1"),
        ("NUL", "1%00"),
        ("word", "abc"),
    ]:
        for method in ("GET", "PUT", "DELETE"):
            table.append(
                Case(f"{method} template {name}", method, f"/template/{template_id}", "admin",
                     {"data": {"title": "t", "url": GOOD_URL}} if method == "PUT" else {})
            )
    for path in ("/template", "/"):
        for name, params in paging_params() + filter_params():
            table.append(Case(f"GET {path} {name}", "GET", path, "alice", {"params": params}))

    # --- tokens, on every route ---
    routes = [("GET", "/user"), ("POST", "/user"), ("GET", "/user/{pid}"), ("PUT", "/user/{pid}"),
              ("DELETE", "/user/{pid}"), ("POST", "/template"), ("GET", "/template"),
              ("GET", "/"), ("GET", "/template/{own}"), ("PUT", "/template/{own}"),
              ("DELETE", "/template/{own}"), ("POST", "/logout")]
    for token_name in FORGERIES:
        for method, path in routes:
            table.append(Case(f"{token_name} token {method} {path}", method, path, token_name,
                              {"data": {"title": "t", "url": GOOD_URL,
                                        "username": "mallory", "password": "mallory-pw"}}))
    return table


def paging_params() -> list[tuple[str, dict[str, str]]]:
    return [
        ("limit -1", {"limit": "-1"}),
        ("limit 0", {"limit": "0"}),
        ("limit huge", {"limit": "9" * 40}),
        ("limit 1001", {"limit": "1001"}),
        ("limit float", {"limit": "1.5"}),
        ("limit word", {"limit": "all"}),
        ("limit NUL", {"limit": "1\x00"}),
        ("offset -1", {"offset": "-1"}),
        ("offset huge", {"offset": "9" * 40}),
        ("offset 2^63", {"offset": str(2**63)}),
        ("offset sql", {"offset": "0; DROP TABLE user"}),
    ]


def filter_params() -> list[tuple[str, dict[str, str]]]:
    return [
        ("approved maybe", {"approved": "maybe"}),
        ("username NUL", {"username": NUL}),
        ("username 10 KB", {"username": LONG}),
    ]


FORGERIES = ("alg-none", "other-key", "garbage")


def forged_token(kind: str, public_id: str) -> str:
    claims = {"public_id": public_id, "sub": public_id, "ver": 0}
    if kind == "alg-none":
        def part(data: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

        return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."
    if kind == "other-key":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return jwt.encode(claims, "some-other-secret-key-32-bytes-long!!", "HS256")
    assert TEST_SECRET not in kind
    return "eyJhbGciOiJIUzI1NiJ9.garbage.garbage"


async def snapshot(act: Actions) -> dict[str, list[tuple[Any, ...]]]:
    tables: dict[str, list[tuple[Any, ...]]] = {}
    async with act.session() as session:
        for model in (User, MemeTemplate, Application):
            rows = await session.scalars(select(model).order_by(model.id))  # type: ignore[attr-defined]
            tables[model.__tablename__] = [  # type: ignore[index]
                tuple(sorted(row.model_dump().items())) for row in rows
            ]
    return tables


CASES = cases()


@pytest.mark.parametrize(
    "group",
    ["login", "user", "template", "token"],
)
async def test_hostile_requests_are_4xx_json_and_change_nothing(act: Actions, group: str) -> None:
    admin = await act.user_headers("admin", admin=True)
    alice = await act.user_headers("alice")
    bob = await act.user_headers("bob")
    own = await act.create_template(alice, "alice's draft")
    approved = await act.create_template(admin, "approved")
    # bob's approved post, for the owner-of-approved case
    bobs = await act.create_template(bob, "bob's")
    await act.client.put(f"/template/{bobs['id']}", data={"title": "bob's", "url": GOOD_URL},
                         headers=admin)
    pid = (await act.users())[1].public_id
    ids = {"own": own["id"], "approved": bobs["id"], "pid": pid}
    assert approved["approved"] is True
    headers = {"admin": admin, "alice": alice, "bob": bob, "none": {}}
    for kind in FORGERIES:
        headers[kind] = {"x-access-token": forged_token(kind, pid)}

    selected = [c for c in CASES if group_of(c) == group]
    assert selected
    before = await snapshot(act)
    problems = []
    for case in selected:
        kwargs = dict(case.kwargs)
        kwargs["headers"] = headers[case.who] | kwargs.get("headers", {})
        path = case.path.format(**ids) if "{" in case.path else case.path
        response = await act.client.request(case.method, path, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not (
            400 <= response.status_code < 500
            and response.headers.get("content-type") == "application/json"
            and isinstance(body, dict)
            and set(body) == {"message"}
            and isinstance(body["message"], str)
        ):
            problems.append((case.name, response.status_code, response.text[:200]))
            continue
        after = await snapshot(act)
        if after != before:
            problems.append((case.name, response.status_code, "rows changed"))
            before = after
    assert problems == []


def group_of(case: Case) -> str:
    if case.who in FORGERIES:
        return "token"
    if case.path.startswith("/login"):
        return "login"
    if case.path.startswith("/user"):
        return "user"
    return "template"
