"""Frontend feeds through GraphQL: the same filters as REST, and stable cursor paging."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from gateway.db.models import MemeTemplate
from tests.rest.test_filters import seed
from tests.support.actions import Actions

CONNECTION = """
query Page($first: Int!, $after: String, $order: TemplateOrder!) {
  feedConnection(first: $first, after: $after, order: $order) {
    totalCount
    edges { cursor node { id title author { username } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def graphql_titles(act: Actions, headers: dict[str, str], field: str, **args: Any) -> Any:
    arguments = ", ".join(f"{name}: ${name}" for name in args)
    types = {"search": "String", "username": "String", "since": "DateTime",
             "until": "DateTime", "order": "TemplateOrder", "approved": "Boolean"}
    declared = ", ".join(f"${name}: {types[name]}" for name in args)
    query = f"query F({declared}) {{ {field}({arguments}) {{ title }} }}" if args else (
        f"{{ {field} {{ title }} }}"
    )
    body = await act.graphql(query, headers, **args)
    assert "errors" not in body, body
    return [t["title"] for t in body["data"][field]]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("ÜNÏCÖDÉ", ["Ünïcödé Drake"]),
        ("über", ["Alice's draft"]),
        ("%", ["100% sure"]),
        ("_", ["snake_case meme"]),
    ],
)
async def test_graphql_search_matches_rest(act: Actions, search: str, expected: list[str]) -> None:
    users = await seed(act)
    assert await graphql_titles(act, users["admin"], "templates", search=search) == expected
    rest = await act.client.get("/template", params={"search": search}, headers=users["admin"])
    assert [t["title"] for t in rest.json()["templates"]] == expected


async def test_graphql_feed_filters_and_order(act: Actions) -> None:
    users = await seed(act)
    alice = users["alice"]
    assert await graphql_titles(act, alice, "feed", order="NEWEST", username="alice") == [
        "Alice's draft"
    ]
    assert await graphql_titles(act, alice, "feed", since="2024-01-05T00:00:00+00:00") == [
        "Plain"
    ]
    assert await graphql_titles(act, alice, "feed", approved=False) == ["Alice's draft"]
    bad = await act.graphql('{ feed(search: "a\\u0000b") { id } }', alice)
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    forged_cursor = '{ feedConnection(after: "bm90LWEtY3Vyc29y") { totalCount } }'
    forged = await act.graphql(forged_cursor, alice)
    assert forged["errors"][0]["message"] == "after is not a valid cursor"


async def add_templates(act: Actions, owner_id: int, count: int, start: datetime) -> None:
    """``count`` approved templates, two per timestamp so ties are broken by id."""
    rows = [
        {"title": f"t{n:03d}", "url": "https://example.com/t.png", "user_id": owner_id,
         "approved": True, "posted": (start + timedelta(seconds=n // 2)).replace(tzinfo=None)}
        for n in range(count)
    ]
    async with act.session() as session:
        await session.execute(insert(MemeTemplate), rows)
        await session.commit()


@pytest.mark.parametrize("order", ["NEWEST", "OLDEST"])
async def test_cursor_paging_sees_every_old_row_once_while_rows_arrive(
    act: Actions, order: str
) -> None:
    owner = await act.create_user("owner", admin=True)
    headers = await act.login("owner")
    assert owner.id is not None
    start = datetime(2024, 1, 1, tzinfo=UTC)
    await add_templates(act, owner.id, 250, start)
    expected = [f"t{n:03d}" for n in range(250)]
    # newest first: later timestamps first, and within one timestamp the higher id first
    expected = expected[::-1] if order == "NEWEST" else expected

    arrived = 0

    async def insert_more() -> None:
        nonlocal arrived
        for _ in range(10):
            created = await act.client.post(
                "/template", data={"title": "new", "url": "https://example.com/n.png"},
                headers=headers,
            )
            assert created.status_code == 200
            arrived += 1
            await asyncio.sleep(0)

    async def page_through() -> list[str]:
        seen: list[str] = []
        after = None
        while True:
            body = await act.graphql(CONNECTION, headers, first=20, after=after, order=order)
            assert "errors" not in body, body
            connection = body["data"]["feedConnection"]
            seen += [edge["node"]["title"] for edge in connection["edges"]]
            assert all(edge["node"]["author"] == {"username": "owner"}
                       for edge in connection["edges"])
            if not connection["pageInfo"]["hasNextPage"]:
                return seen
            after = connection["pageInfo"]["endCursor"]
            await asyncio.sleep(0)

    seen, _ = await asyncio.gather(page_through(), insert_more())
    old = [title for title in seen if title != "new"]
    assert old == expected  # every old row exactly once, in order
    assert arrived == 10


async def test_graphql_approved_filter_only_narrows_the_list_it_filters(act: Actions) -> None:
    users = await seed(act)
    alice = users["alice"]
    query = """query($approved: Boolean) {
      templates(approved: $approved) { title approved }
      templatesConnection(approved: $approved, order: ID) { edges { node { title } } }
    }"""
    every = (await act.graphql(query, alice))["data"]["templates"]

    data = (await act.graphql(query, alice, approved=False))["data"]

    unapproved = [t["title"] for t in every if not t["approved"]]
    assert unapproved == ["Alice's draft", "Bob's draft"]
    assert [t["title"] for t in data["templates"]] == unapproved
    assert [e["node"]["title"] for e in data["templatesConnection"]["edges"]] == unapproved


PAGE_INFO = """query($first: Int!, $after: String, $search: String) {
  feedConnection(first: $first, after: $after, search: $search, order: OLDEST) {
    edges { cursor }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


async def test_page_info_has_every_field_of_the_relay_spec(act: Actions) -> None:
    users = await seed(act)
    alice = users["alice"]

    first = (await act.graphql(PAGE_INFO, alice, first=2))["data"]["feedConnection"]
    after = first["pageInfo"]["endCursor"]
    second = (await act.graphql(PAGE_INFO, alice, first=2, after=after))["data"]["feedConnection"]
    empty = (await act.graphql(PAGE_INFO, alice, first=2, search="no such"))["data"]

    for page in (first, second):
        cursors = [edge["cursor"] for edge in page["edges"]]
        assert page["pageInfo"] == {
            "hasNextPage": True,
            "hasPreviousPage": False,  # forward-only paging, as the spec allows
            "startCursor": cursors[0],
            "endCursor": cursors[-1],
        }
    assert empty["feedConnection"] == {
        "edges": [],
        "pageInfo": {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None,
                     "endCursor": None},
    }
