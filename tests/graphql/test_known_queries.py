"""A query text the door has parsed and validated before runs a shorter way than the first
time (``GatewayGraphQL.run_known``), past Strawberry's view and ``Schema.execute``, and
where it can past graphql-core's executor around the root fields (an outline,
``gateway.graphql.outlines``). It must answer exactly as the first time did, whatever
the answer: data, errors of every kind with their codes and paths, an operation picked
by name, variables good and bad. What that way does not handle takes Strawberry's way
again, and answers as before."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import strawberry

from gateway.graphql.execution import PlainFieldsExecutor
from gateway.services import posts
from tests.support.actions import Actions

DOUBLE = "query A { me { username } } query B { feed { title approved author { username } } }"
BY_ID = "query One($id: Int!) { template(id: $id) { title } }"

SHORT, STRAWBERRY, REFUSED = 1, 2, 0  # how many of the two sends Strawberry executes
CASES: dict[str, tuple[dict[str, Any], int]] = {
    "data": ({"query": "{ me { username admin } feed { id title url posted } }"}, SHORT),
    "typename": ({"query": "{ __typename }"}, SHORT),
    "named operation of two": ({"query": DOUBLE, "operationName": "B"}, SHORT),
    "variables": ({"query": BY_ID, "variables": {"id": 1}}, SHORT),
    "field error with a path": ({"query": BY_ID, "variables": {"id": 999}}, SHORT),
    "admin-only field": ({"query": "{ users { username } }"}, SHORT),
    "variable of the wrong type": ({"query": BY_ID, "variables": {"id": "one"}}, SHORT),
    "variable missing": ({"query": BY_ID}, SHORT),
    "directives": (
        {
            "query": "query S($s: Boolean!) { me { username admin @skip(if: $s) } }",
            "variables": {"s": True},
        },
        SHORT,
    ),
    "extensions": ({"query": "{ me { username } }", "extensions": {"tracing": True}}, SHORT),
    "aliases and a fragment at the root": (
        {
            "query": "{ who: me { username } ...F } "
            "fragment F on Query { feed(limit: 2) { title author { username } } }"
        },
        SHORT,
    ),
    "variables in a list's arguments": (
        {
            "query": "query F($n: Int, $o: TemplateOrder) { feed(limit: $n, order: $o) { title } }",
            "variables": {"n": 1, "o": "NEWEST"},
        },
        SHORT,
    ),
    "a nullable root field's error beside data": (
        {"query": "{ me { username } template(id: 999) { title } }"},
        SHORT,
    ),
    "a non-null root field's error": (
        {"query": "{ me { username } feed(limit: 0) { id } }"},
        SHORT,
    ),
    "unknown operation name": ({"query": DOUBLE, "operationName": "C"}, STRAWBERRY),
    "no name, two operations": ({"query": DOUBLE}, STRAWBERRY),
    "failed validation": ({"query": "{ me { nope } }"}, STRAWBERRY),
    "mutation": ({"query": 'mutation { createTemplate(title: "", url: "") { id } }'}, STRAWBERRY),
    "variables not an object": ({"query": BY_ID, "variables": [1]}, REFUSED),
}


@pytest.fixture
def strawberry_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str | None]]:
    """The query of every operation that went through Strawberry's ``Schema.execute``."""
    runs: list[str | None] = []
    execute = strawberry.Schema.execute

    async def counted(self: strawberry.Schema, query: str | None, *args: Any, **kw: Any) -> Any:
        runs.append(query)
        return await execute(self, query, *args, **kw)

    monkeypatch.setattr(strawberry.Schema, "execute", counted)
    yield runs


@pytest.mark.parametrize("case", CASES)
async def test_a_known_text_answers_as_it_did_the_first_time(
    act: Actions,
    case: str,
    strawberry_runs: list[str | None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = await act.user_headers("alice")
    await act.create_template(headers, "mine")
    body, runs = CASES[case]
    caplog.set_level(logging.INFO, logger="gateway")

    first = await act.client.post("/graphql", json=body, headers=headers)
    second = await act.client.post("/graphql", json=body, headers=headers)

    assert first.status_code in (200, 400)  # an answer, not a failure
    assert (second.status_code, second.json()) == (first.status_code, first.json())
    assert second.headers["content-type"] == first.headers["content-type"]
    logged = [r.access["graphql_operation"] for r in caplog.records if hasattr(r, "access")]
    assert logged[-1] == logged[-2]
    assert len(strawberry_runs) == runs


async def test_the_short_way_answers_for_each_caller(act: Actions) -> None:
    # Nothing of one request stays with the document: the same text, two callers.
    alice = await act.user_headers("alice")
    bob = await act.user_headers("bob", admin=True)
    await act.create_template(alice, "alice's own")
    body = {"query": "{ me { username admin } feed { title } }"}
    for _ in range(2):
        seen = {
            name: (await act.client.post("/graphql", json=body, headers=headers)).json()
            for name, headers in (("alice", alice), ("bob", bob))
        }
        assert seen["alice"]["data"] == {
            "me": {"username": "alice", "admin": False},
            "feed": [{"title": "alice's own"}],
        }
        assert seen["bob"]["data"] == {"me": {"username": "bob", "admin": True}, "feed": []}


@pytest.fixture
def executors_built(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Each operation name graphql-core's executor was built for, on any way."""
    built: list[str | None] = []
    build = PlainFieldsExecutor.build.__func__  # type: ignore[attr-defined]

    def counted(cls: type, *args: Any, **kw: Any) -> Any:
        built.append(kw.get("operation_name"))
        return build(cls, *args, **kw)

    monkeypatch.setattr(PlainFieldsExecutor, "build", classmethod(counted))
    return built


@pytest.fixture
def lists_read(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """The limit of every list the template service read."""
    read: list[int | None] = []
    list_items = posts.list_items

    async def counted(*args: Any, **kw: Any) -> Any:
        read.append(kw.get("limit"))
        return await list_items(*args, **kw)

    monkeypatch.setattr(posts, "list_items", counted)
    return read


async def test_a_known_screen_runs_past_graphql_cores_executor(
    act: Actions, executors_built: list[str | None], lists_read: list[int | None]
) -> None:
    headers = await act.user_headers("alice")
    await act.create_template(headers, "mine")
    body = {"query": "query Screen { me { username } feed(limit: 5) { title posted } }"}

    answers = [
        (await act.client.post("/graphql", json=body, headers=headers)).json()
        for _ in range(3)
    ]

    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["data"]["feed"][0]["title"] == "mine"
    # Strawberry's way builds one; the first short way one to outline it; then none.
    assert len(executors_built) == 2
    assert lists_read == [5, 5, 5]


@pytest.mark.parametrize(
    "query",
    [
        "{ me { username } feed(limit: 5) { title } }",  # both root fields fail
        "{ me { username } template(id: 1) { title } }",  # one nullable, one not
    ],
)
async def test_a_failing_outline_is_answered_by_graphql_core_without_reading_twice(
    act: Actions,
    query: str,
    executors_built: list[str | None],
    lists_read: list[int | None],
) -> None:
    headers = {"x-access-token": "not a token"}
    first = await act.client.post("/graphql", json={"query": query}, headers=headers)
    lists_first = len(lists_read)
    known = [
        await act.client.post("/graphql", json={"query": query}, headers=headers)
        for _ in range(2)
    ]

    for answer in known:
        assert (answer.status_code, answer.json()) == (first.status_code, first.json())
    assert first.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # Each failure is answered by an executor built from the outcomes, no resolver
    # run again: the lists are read as often as the first time.
    assert len(executors_built) == 1 + 1 + 2
    assert len(lists_read) == 3 * lists_first


async def test_a_value_that_is_not_plain_is_completed_by_graphql_core(
    act: Actions, monkeypatch: pytest.MonkeyPatch, executors_built: list[str | None]
) -> None:
    # A row whose title is null: the outline's plan leaves it to graphql-core, which
    # reports it at its path and nulls what the schema says, as the first time.
    headers = await act.user_headers("alice")
    await act.create_template(headers, "mine")
    await act.create_template(headers, "also mine")
    list_items = posts.list_items

    async def one_untitled(*args: Any, **kw: Any) -> Any:
        found = await list_items(*args, **kw)
        found[1] = replace(found[1], title=None)
        return found

    monkeypatch.setattr(posts, "list_items", one_untitled)
    body = {"query": "{ me { username } feed { id title } }"}

    answers = [await act.client.post("/graphql", json=body, headers=headers) for _ in range(3)]

    first = answers[0].json()
    assert first["data"] is None
    assert first["errors"][0]["path"] == ["feed", 1, "title"]
    for answer in answers[1:]:
        assert answer.json() == first
    # Strawberry's way; the outline's own and its replay; the replay again.
    assert len(executors_built) == 1 + 2 + 1
