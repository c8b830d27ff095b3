"""Template filters and ordering through the REST door, on every database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from gateway.db.models import MemeTemplate
from tests.support.actions import Actions

BASE = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


async def seed(act: Actions) -> dict[str, dict[str, str]]:
    """admin and alice post templates one day apart; titles exercise the search rules."""
    admin = await act.user_headers("admin", admin=True)
    alice = await act.user_headers("alice")
    bob = await act.user_headers("bob")
    posts: list[tuple[dict[str, str], str, str | None]] = [
        (admin, "Ünïcödé Drake", "non-ASCII title"),
        (admin, "100% sure", "a literal percent"),
        (admin, "snake_case meme", None),
        (alice, "Alice's draft", "ÜBER secret"),
        (admin, "Plain", "nothing special 100 percent"),
        (bob, "Bob's draft", "snakeXcase"),
    ]
    for day, (headers, title, description) in enumerate(posts):
        fields: dict[str, Any] = {"description": description} if description else {}
        created = await act.create_template(headers, title, **fields)
        async with act.session() as session:
            await session.execute(
                update(MemeTemplate)
                .where(MemeTemplate.id == created["id"])
                .values(posted=BASE + timedelta(days=day))
            )
            await session.commit()
    return {"admin": admin, "alice": alice, "bob": bob}


async def titles(act: Actions, path: str, headers: dict[str, str], **params: Any) -> list[str]:
    response = await act.client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [t["title"] for t in response.json()["templates"]]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("drake", ["Ünïcödé Drake"]),
        ("ÜNÏCÖDÉ", ["Ünïcödé Drake"]),  # non-ASCII case folding
        ("über", ["Alice's draft"]),  # matches the description
        ("100%", ["100% sure"]),  # % is literal: "100 percent" does not match
        ("%", ["100% sure"]),
        ("_", ["snake_case meme"]),  # _ is literal, not "any one character"
        ("e_c", ["snake_case meme"]),
        ("nothing-matches", []),
    ],
)
async def test_search_is_case_insensitive_and_literal(
    act: Actions, search: str, expected: list[str]
) -> None:
    users = await seed(act)
    assert await titles(act, "/template", users["admin"], search=search) == expected


async def test_feed_filters_by_author_dates_and_order(act: Actions) -> None:
    users = await seed(act)
    alice = users["alice"]
    # alice's feed: admin's approved posts and her own draft, not bob's draft
    assert await titles(act, "/", alice) == [
        "Ünïcödé Drake", "100% sure", "snake_case meme", "Alice's draft", "Plain"
    ]
    assert await titles(act, "/", alice, order="newest", limit=2) == ["Plain", "Alice's draft"]
    assert await titles(act, "/", alice, order="oldest", limit=1) == ["Ünïcödé Drake"]
    assert await titles(act, "/", alice, username="alice") == ["Alice's draft"]
    since = (BASE + timedelta(days=1)).isoformat()
    until = (BASE + timedelta(days=3)).isoformat()
    assert await titles(act, "/", alice, since=since, until=until) == [
        "100% sure", "snake_case meme"
    ]
    assert await titles(act, "/", alice, since="2024-01-05") == ["Plain"]


@pytest.mark.parametrize("who", ["alice", "admin"])
async def test_approved_filter_only_narrows_the_list_it_filters(act: Actions, who: str) -> None:
    """``GET /template`` shows everyone every template, as the original did; its filter
    picks rows of that list, the same for a non-admin as for an admin."""
    users = await seed(act)
    every = (await act.client.get("/template", headers=users[who])).json()["templates"]

    unapproved = await titles(act, "/template", users[who], approved="false")
    approved = await titles(act, "/template", users[who], approved="true")

    assert unapproved == [t["title"] for t in every if not t["approved"]]
    assert unapproved == ["Alice's draft", "Bob's draft"]
    assert approved == [t["title"] for t in every if t["approved"]]
    assert len(approved) == 4
    # The feed keeps its own rule (approved plus one's own) and the filter narrows that.
    assert await titles(act, "/", users["alice"], approved="false") == ["Alice's draft"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"order": "sideways"}, "order must be newest, oldest or id"),
        ({"since": "yesterday"}, "since must be an ISO 8601 date or date-time"),
        ({"until": "2024-13-01"}, "until must be an ISO 8601 date or date-time"),
        ({"search": "x" * 201}, "search must be at most 200 characters"),
        ({"search": "a\x00b"}, "search must not contain NUL characters"),
        ({"approved": "maybe"}, "approved must be true or false"),
    ],
)
async def test_bad_filters_are_400(act: Actions, params: dict[str, str], message: str) -> None:
    headers = await act.user_headers("alice")
    for path in ("/", "/template"):
        response = await act.client.get(path, params=params, headers=headers)
        assert response.status_code == 400
        assert response.json() == {"message": message}
