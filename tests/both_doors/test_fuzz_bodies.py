"""Generated raw bodies with every content type, on every route that reads a body: never
a 5xx, always a JSON answer in the door's own format (REST ``message``, GraphQL
``errors``). Schemathesis and hypothesis-graphql only send well-formed JSON; this sends
what a hostile client or a broken proxy would: random bytes, structured junk, multipart
fragments with and without a boundary, under charsets no decoder here accepts."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote_from_bytes

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.actions import Actions

# In-process and on SQLite only (the decoders run before any database work), so
# `make test` stays quick; `make fuzz` raises FUZZ_EXAMPLES.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15")) * 10
BOUNDARY = "gw-fuzz-boundary"

CONTENT_TYPES = [
    None,
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=utf-16",
    "application/json; charset=latin-1",
    "application/vnd.api+json",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-16",
    f"multipart/form-data; boundary={BOUNDARY}",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    'multipart/form-data; boundary="unclosed',
    "text/plain",
    "application/graphql",
    "application/octet-stream",
    "*/*; q=",
]

PIECES = [
    b"[", b"]", b"{", b"}", b'"', b":", b",", b"=", b"&", b"%", b"\x00", b"\xff", b"\\",
    b"\\u", b"d800", b"%FF", b"%00", b"%", b"1", b"-1e999", b"null", b"true", b"a",
    b"title", b"url", b"username", b"password", b"query", b"variables", b"extensions",
    b'"query"', b'"{ me { id } }"', b"https://example.com/x.png", b"\r\n", b" ",
    b"\xef\xbb\xbf", b"\xfe\xff", b"\xc3", b"\xed\xa0\x80",
]
HEADER_LINES = [
    b'Content-Disposition: form-data; name="title"',
    b'Content-Disposition: form-data; name="url"',
    b'Content-Disposition: form-data; name="username"; filename="a.txt"',
    b'Content-Disposition: form-data; name="query"',
    b"Content-Disposition: form-data",
    b"Content-Disposition: attachment; name=",
    b"Content-Type: application/json; charset=utf-16",
    b"Content-Type: text/plain",
    b"Content-Transfer-Encoding: base64",
    b"Bad Header Without Colon",
    b": no name",
    b"X" * 300 + b": long",
]

junk = st.lists(st.sampled_from(PIECES), max_size=60).map(b"".join)


@st.composite
def multipart(draw: st.DrawFn) -> bytes:
    """Parts with good and bad headers, perhaps another boundary, perhaps cut short."""
    boundary = draw(st.sampled_from([BOUNDARY.encode(), b"other", b""]))
    out = b""
    for _ in range(draw(st.integers(0, 4))):
        headers = draw(st.lists(st.sampled_from(HEADER_LINES), max_size=3))
        out += b"--" + boundary + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n"
        out += draw(st.one_of(junk, st.binary(max_size=40))) + b"\r\n"
    if draw(st.booleans()):
        out += b"--" + boundary + b"--\r\n"
    cut = draw(st.integers(0, len(out)))
    return out[:cut] if draw(st.booleans()) else out


# Nesting past any decoder's recursion limit, closed or not, alone or inside an object.
nested = st.builds(
    lambda opener, depth, rest: opener * depth + rest,
    st.sampled_from([b"[", b'{"a":', b'{"title":"t","url":"https://x.io/a","description":']),
    st.integers(1, 3000),
    junk,
)
bodies = st.one_of(st.binary(max_size=400), junk, multipart(), nested)
content_types = st.sampled_from(CONTENT_TYPES)


class Problem(Exception):
    pass


def json_answer(response: httpx.Response) -> Any:
    """The JSON body of an answer that is no 5xx, else Problem saying what is wrong."""
    if response.status_code >= 500:
        raise Problem(f"HTTP {response.status_code}: {response.text[:300]}")
    try:
        return response.json()
    except ValueError:
        raise Problem(f"HTTP {response.status_code}, not JSON: {response.text[:300]}") from None


def rest_problem(response: httpx.Response) -> str | None:
    try:
        body = json_answer(response)
    except Problem as problem:
        return str(problem)
    if response.status_code >= 400 and not (
        isinstance(body, dict) and set(body) == {"message"} and isinstance(body["message"], str)
    ):
        return f"HTTP {response.status_code}, not {{'message'}}: {body!r:.300}"
    return None


def graphql_problem(response: httpx.Response) -> str | None:
    try:
        body = json_answer(response)
    except Problem as problem:
        return str(problem)
    if not isinstance(body, dict) or not ("data" in body or "errors" in body):
        return f"HTTP {response.status_code}, not a GraphQL response: {body!r:.300}"
    if response.status_code >= 400 and not body.get("errors"):
        return f"HTTP {response.status_code} without errors: {body!r:.300}"
    for error in body.get("errors") or []:
        if error.get("extensions", {}).get("code") in (None, "INTERNAL_SERVER_ERROR"):
            return f"uncoded or internal error: {error!r:.300}"
    return None


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
async def seeded(act: Actions) -> dict[str, Any]:
    admin = await act.user_headers("admin", admin=True)
    alice = await act.user_headers("alice")
    own = await act.create_template(alice, "alice's draft")
    public_id = (await act.users())[1].public_id
    return {
        "headers": {"admin": admin, "alice": alice, "none": {}},
        "paths": {"own": own["id"], "pid": public_id},
    }


ROUTES = [
    ("POST", "/login", "none", rest_problem),
    ("POST", "/user", "admin", rest_problem),
    ("PUT", "/user/{pid}", "admin", rest_problem),
    ("POST", "/template", "alice", rest_problem),
    ("PUT", "/template/{own}", "alice", rest_problem),
    ("POST", "/graphql", "alice", graphql_problem),
]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # One app and its rows serve every example (the fixtures are per test, on purpose).
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)


@pytest.mark.parametrize(
    ("method", "path", "who", "problem"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES]
)
@FUZZ
@given(body=bodies, content_type=content_types)
async def test_generated_bodies_get_a_json_answer_never_a_5xx(
    act: Actions, seeded: dict[str, Any], method: str, path: str, who: str,
    problem: Any, body: bytes, content_type: str | None,
) -> None:
    headers = dict(seeded["headers"][who])
    if content_type is not None:
        headers["content-type"] = content_type
    response = await act.client.request(
        method, path.format(**seeded["paths"]), content=body, headers=headers
    )
    found = problem(response)
    assert found is None, f"{method} {path} {content_type!r} {body[:200]!r}: {found}"


# GET /graphql: junk `query`, `variables` and `extensions`, percent-encoded byte for byte.
# (Nesting capped so three parameters stay under httpx's 64 KB limit on a URL.)
shallower = st.builds(
    lambda opener, depth: opener * depth, st.sampled_from([b"[", b'{"a":']), st.integers(1, 1200)
)
parameter = st.one_of(st.none(), junk, st.binary(max_size=100), shallower)


@FUZZ
@given(query=parameter, variables=parameter, extensions=parameter, raw=st.booleans())
async def test_generated_graphql_get_parameters_get_a_graphql_answer(
    act: Actions, seeded: dict[str, Any], query: bytes | None, variables: bytes | None,
    extensions: bytes | None, raw: bool,
) -> None:
    given_params = {"query": query, "variables": variables, "extensions": extensions}
    safe = b'[]{}:,"' if raw else b""
    pairs = [
        f"{name}={quote_from_bytes(value, safe=safe)}"
        for name, value in given_params.items()
        if value is not None
    ]
    url = httpx.URL("http://gateway.test/graphql", query="&".join(pairs).encode("ascii"))
    # Not text/html (nor httpx's */*): without a query that would be the GraphiQL page.
    headers = {"accept": "application/json", **seeded["headers"]["alice"]}
    response = await act.client.get(url, headers=headers)
    found = graphql_problem(response)
    assert found is None, f"GET /graphql {given_params!r:.300}: {found}"
