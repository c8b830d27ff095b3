"""One table of rules, run through both doors: every case must end the same in REST and GraphQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest

from gateway import errors
from gateway.errors import BadInput, Conflict, Forbidden, NotFound, Unauthenticated
from tests.support.actions import Actions, password_of
from tests.support.doors import Door, GraphQLDoor, Outcome, RestDoor, refused

URL = "https://example.com/meme.png"
MISSING_ID = 987654
MISSING_PUBLIC_ID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(params=["rest", "graphql"])
def door(request: pytest.FixtureRequest, client: httpx.AsyncClient) -> Door:
    return RestDoor(client) if request.param == "rest" else GraphQLDoor(client)


@dataclass
class World:
    """An admin; "owner" with an unapproved and an approved template; "other" with one
    unapproved template. Headers for each, for nobody, and for a forged token."""

    admin: dict[str, str]
    owner: dict[str, str]
    other: dict[str, str]
    anonymous: dict[str, str]
    forged: dict[str, str]
    owner_public_id: str
    admin_public_id: str
    mine: int
    mine_approved: int
    others: int


@pytest.fixture
async def world(act: Actions) -> World:
    admin = await act.user_headers("admin", admin=True)
    owner = await act.user_headers("owner")
    other = await act.user_headers("other")
    mine = await act.create_template(owner, "mine")
    approved = await act.create_template(owner, "mine-approved")
    response = await act.client.put(
        f"/template/{approved['id']}", json={"title": "mine-approved", "url": URL},
        headers=admin,
    )
    assert response.json()["template"]["approved"] is True
    others = await act.create_template(other, "others")
    users = {u.username: u for u in await act.users()}
    forged = jwt.encode(
        {"public_id": users["admin"].public_id, "ver": 0}, "another-key-" * 4, algorithm="HS256"
    )
    return World(
        admin=admin,
        owner=owner,
        other=other,
        anonymous={},
        forged={"x-access-token": forged},
        owner_public_id=users["owner"].public_id,
        admin_public_id=users["admin"].public_id,
        mine=mine["id"],
        mine_approved=approved["id"],
        others=others["id"],
    )


Operation = Callable[[Door, World], Awaitable[Outcome]]


def template(title: str, approved: bool, username: str) -> dict[str, Any]:
    return {"title": title, "url": URL, "approved": approved, "username": username}


MISSING_TOKEN = refused(Unauthenticated, errors.TOKEN_MISSING)
INVALID_TOKEN = refused(Unauthenticated, errors.TOKEN_INVALID)
NOT_ADMIN = refused(Forbidden, errors.NOT_ADMIN)
NO_USER = refused(NotFound, errors.NO_USER)
NO_TEMPLATE = refused(NotFound, errors.NO_TEMPLATE)
NOT_OWNER = refused(Forbidden, errors.NOT_OWNER)
APPROVED_POST = refused(Forbidden, errors.APPROVED_POST)


async def logged_out_feed(door: Door, w: World) -> Outcome:
    assert await door.logout(w.owner) is True
    return await door.feed(w.owner)


async def last_admin_deletes_self(door: Door, w: World) -> Outcome:
    return await door.delete_user(w.admin, w.admin_public_id)


async def second_admin_deletes_first(door: Door, w: World) -> Outcome:
    assert await door.promote_user(w.admin, w.owner_public_id) is True
    return await door.delete_user(w.owner, w.admin_public_id)


# (case id, operation, expected outcome). Read top to bottom as SPEC §4-§5.
CASES: list[tuple[str, Operation, Outcome]] = [
    # Who is asking
    ("login-ok", lambda d, w: _has_token(d.login("owner", password_of("owner"))), True),
    ("login-wrong-password", lambda d, w: d.login("owner", "wrong-password"),
     refused(Unauthenticated, errors.COULD_NOT_VERIFY)),
    ("login-unknown-user", lambda d, w: d.login("nobody", "whatever-password"),
     refused(Unauthenticated, errors.COULD_NOT_VERIFY)),
    ("missing-token-feed", lambda d, w: d.feed(w.anonymous), MISSING_TOKEN),
    ("missing-token-create", lambda d, w: d.create_template(w.anonymous, "t", URL),
     MISSING_TOKEN),
    ("missing-token-admin-op", lambda d, w: d.list_users(w.anonymous), MISSING_TOKEN),
    ("forged-token-feed", lambda d, w: d.feed(w.forged), INVALID_TOKEN),
    ("forged-token-admin-op", lambda d, w: d.list_users(w.forged), INVALID_TOKEN),
    ("logged-out-token", logged_out_feed, INVALID_TOKEN),
    # Admin-only operations
    ("non-admin-list-users", lambda d, w: d.list_users(w.owner), NOT_ADMIN),
    ("non-admin-get-user", lambda d, w: d.get_user(w.owner, w.owner_public_id), NOT_ADMIN),
    ("non-admin-create-user", lambda d, w: d.create_user(w.owner, "newbie", "newbie-pass"),
     NOT_ADMIN),
    ("non-admin-promote", lambda d, w: d.promote_user(w.owner, w.owner_public_id), NOT_ADMIN),
    ("non-admin-delete-user", lambda d, w: d.delete_user(w.other, w.owner_public_id),
     NOT_ADMIN),
    ("admin-list-users", lambda d, w: d.list_users(w.admin), ["admin", "owner", "other"]),
    ("admin-get-user", lambda d, w: d.get_user(w.admin, w.owner_public_id),
     {"username": "owner", "admin": False}),
    ("admin-create-user", lambda d, w: d.create_user(w.admin, "newbie", "newbie-pass"),
     {"username": "newbie", "admin": False}),
    ("duplicate-username", lambda d, w: d.create_user(w.admin, "owner", "another-pass"),
     refused(Conflict, errors.USERNAME_TAKEN)),
    ("short-password", lambda d, w: d.create_user(w.admin, "newbie", "short"),
     refused(BadInput, "password must be at least 8 characters")),
    ("empty-username", lambda d, w: d.create_user(w.admin, "", "newbie-pass"),
     refused(BadInput, "username and password are required")),
    ("admin-promotes", lambda d, w: d.promote_user(w.admin, w.owner_public_id), True),
    ("admin-deletes-user", lambda d, w: d.delete_user(w.admin, w.owner_public_id), True),
    ("last-admin-delete", last_admin_deletes_self, refused(Conflict, errors.LAST_ADMIN)),
    ("not-last-admin-delete", second_admin_deletes_first, True),
    ("get-missing-user", lambda d, w: d.get_user(w.admin, MISSING_PUBLIC_ID), NO_USER),
    ("promote-missing-user", lambda d, w: d.promote_user(w.admin, MISSING_PUBLIC_ID), NO_USER),
    ("delete-missing-user", lambda d, w: d.delete_user(w.admin, MISSING_PUBLIC_ID), NO_USER),
    # Templates
    ("user-creates-unapproved", lambda d, w: d.create_template(w.owner, "new", URL),
     template("new", False, "owner")),
    ("admin-creates-approved", lambda d, w: d.create_template(w.admin, "new", URL),
     template("new", True, "admin")),
    ("bad-url", lambda d, w: d.create_template(w.owner, "new", "javascript:alert(1)"),
     refused(BadInput, "url must be an http or https URL")),
    ("empty-title", lambda d, w: d.create_template(w.owner, "", URL),
     refused(BadInput, errors.EMPTY_FIELDS)),
    ("get-template", lambda d, w: d.get_template(w.other, w.mine),
     template("mine", False, "owner")),
    ("get-missing-template", lambda d, w: d.get_template(w.owner, MISSING_ID), NO_TEMPLATE),
    ("update-missing-template", lambda d, w: d.update_template(w.admin, MISSING_ID, "x", URL),
     NO_TEMPLATE),
    ("delete-missing-template", lambda d, w: d.delete_template(w.admin, MISSING_ID),
     NO_TEMPLATE),
    ("owner-edits-unapproved", lambda d, w: d.update_template(w.owner, w.mine, "edited", URL),
     template("edited", False, "owner")),
    ("owner-edits-approved", lambda d, w: d.update_template(w.owner, w.mine_approved, "x", URL),
     APPROVED_POST),
    ("owner-deletes-approved", lambda d, w: d.delete_template(w.owner, w.mine_approved),
     APPROVED_POST),
    ("non-owner-edit", lambda d, w: d.update_template(w.other, w.mine, "x", URL), NOT_OWNER),
    ("non-owner-delete", lambda d, w: d.delete_template(w.other, w.mine), NOT_OWNER),
    ("admin-edit-approves", lambda d, w: d.update_template(w.admin, w.others, "fixed", URL),
     template("fixed", True, "other")),
    ("owner-deletes-unapproved", lambda d, w: d.delete_template(w.owner, w.mine), True),
    ("edit-bad-url", lambda d, w: d.update_template(w.owner, w.mine, "x", "data:text/html,x"),
     refused(BadInput, "url must be an http or https URL")),
    ("edit-empty-title", lambda d, w: d.update_template(w.owner, w.mine, "", URL),
     refused(BadInput, errors.EMPTY_FIELDS)),
    # What each one sees
    ("feed-approved-plus-own", lambda d, w: d.feed(w.other), ["mine-approved", "others"]),
    ("feed-of-owner", lambda d, w: d.feed(w.owner), ["mine", "mine-approved"]),
    ("all-templates", lambda d, w: d.templates(w.other), ["mine", "mine-approved", "others"]),
    ("templates-approved", lambda d, w: d.templates(w.other, approved=True),
     ["mine-approved"]),
    ("templates-unapproved", lambda d, w: d.templates(w.owner, approved=False),
     ["mine", "others"]),
    ("templates-unapproved-of-another",
     lambda d, w: d.templates(w.other, approved=False, username="owner"), ["mine"]),
    ("templates-by-username", lambda d, w: d.templates(w.other, username="owner"),
     ["mine", "mine-approved"]),
]


async def _has_token(login: Awaitable[Outcome]) -> Outcome:
    headers = await login
    return isinstance(headers, dict) and bool(headers.get("x-access-token"))


@pytest.mark.parametrize(("operation", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
async def test_rule(door: Door, world: World, operation: Operation, expected: Outcome) -> None:
    assert await operation(door, world) == expected
