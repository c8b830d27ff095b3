"""The executor's shortcut for plain fields answers exactly as graphql-core's own path:
same data, same errors at the same paths, same null propagation, for good values and bad."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import strawberry

from gateway.graphql.execution import PlainFieldsExecutor


@dataclass
class Owner:
    name: Any
    age: Any = 30


@dataclass
class Row:
    id: Any
    title: Any
    note: Any = None
    flag: Any = True
    owner: Any = None


@strawberry.type
class OwnerType:
    name: str
    age: int


@strawberry.type
class RowType:
    id: int
    title: str
    note: str | None
    flag: bool
    owner: OwnerType | None

    @strawberry.field
    def shout(self) -> str:
        return str(self.title).upper()


ROWS: list[Any] = []


@strawberry.type
class Query:
    @strawberry.field
    def rows(self) -> list[RowType]:
        return ROWS

    @strawberry.field
    def maybe_rows(self) -> list[RowType | None]:
        return ROWS

    @strawberry.field
    def first(self) -> RowType | None:
        return ROWS[0] if ROWS else None


FAST = strawberry.Schema(query=Query, execution_context_class=PlainFieldsExecutor)
PLAIN = strawberry.Schema(query=Query)

QUERIES = [
    "{ rows { id title note flag owner { name age } } }",
    "{ rows { a: id b: title id } }",
    "{ rows { ...F } } fragment F on RowType { id owner { name } }",
    "{ rows { __typename id } }",
    "{ rows { id shout } }",
    "{ rows { id title @skip(if: true) note @include(if: false) } }",
    "{ maybeRows { id title } }",
    "{ first { id owner { name } } }",
]
DATA = {
    "good": [Row(1, "a", owner=Owner("x")), Row(2, "b", "n", False, Owner("y", 41))],
    "no owner": [Row(1, "a")],
    "null title": [Row(1, "a"), Row(2, None)],
    "null owner name": [Row(1, "a", owner=Owner(None))],
    "int out of range": [Row(2**31, "a")],
    "int from bool": [Row(True, "a")],
    "float id": [Row(1.5, "a")],
    "title not a string": [Row(1, 7, owner=Owner("x", "41"))],
    "title a bool": [Row(1, False)],
    "null row": [Row(1, "a"), None],
    "empty": [],
    # The first rows teach the plan their types; a later row of the same types but a bad
    # value must still be reported as graphql-core reports it.
    "learned, then out of range": [Row(1, "a"), Row(2, "b"), Row(2**31, "c"), Row(3, "d")],
    "learned, then a null title": [Row(1, "a"), Row(2, "b"), Row(3, None), Row(4, "d")],
    "learned, then a bad owner": [
        Row(1, "a", owner=Owner("x")), Row(2, "b", owner=Owner("y")),
        Row(3, "c", owner=Owner(None)), Row(4, "d", owner=Owner("z", 2**40)),
    ],
    "learned, then a bool id": [Row(1, "a"), Row(2, "b"), Row(False, "c")],
}


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("rows", list(DATA.values()), ids=list(DATA))
async def test_shortcut_answers_as_graphql_core(query: str, rows: list[Any]) -> None:
    ROWS[:] = rows
    fast, plain = await FAST.execute(query), await PLAIN.execute(query)
    assert fast.data == plain.data
    assert [(e.message, e.path) for e in fast.errors or []] == [
        (e.message, e.path) for e in plain.errors or []
    ]


async def test_plain_selections_take_the_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.graphql import execution

    ran: list[Any] = []
    real = execution.run_list

    def spy(plan: Any, items: Any, non_null: bool) -> list[Any]:
        ran.append(plan)
        return real(plan, items, non_null)

    monkeypatch.setattr(execution, "run_list", spy)
    ROWS[:] = DATA["good"]
    result = await FAST.execute("{ rows { id title owner { name } } }")
    assert result.errors is None
    assert ran, "the list of plain objects did not take the shortcut"
    ran.clear()
    await FAST.execute("{ rows { id shout } }")  # a resolver of its own: graphql-core's path
    assert not ran


async def test_plans_kept_across_requests_follow_each_requests_variables() -> None:
    # Plans outlive a request; @skip/@include deep in the selection change which
    # fields a request takes, so the same document must not reuse the other's plan.
    ROWS[:] = DATA["good"]
    query = """query ($x: Boolean!, $y: Boolean!) { rows { id ... @skip(if: $y) { title }
        owner { name ... @include(if: $x) { age } } } }"""
    for x, y in [(True, False), (False, False), (True, True), (False, True), (True, False)]:
        variables = {"x": x, "y": y}
        fast = await FAST.execute(query, variable_values=variables)
        plain = await PLAIN.execute(query, variable_values=variables)
        assert fast.errors is None and plain.errors is None
        assert fast.data == plain.data, variables
