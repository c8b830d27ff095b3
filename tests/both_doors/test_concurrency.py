"""Simultaneous requests through one app and one real connection pool: no 5xx, and the
rows stay consistent (SPEC §7). ``asyncio.gather`` over the in-process transport runs
the requests interleaved on the event loop, each with its own session and connection."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx

from tests.support.actions import Actions

URLS = ("https://example.com/a.png", "https://example.com/b.png")


async def test_twenty_simultaneous_signups_of_one_username(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    body = {"username": "popular", "password": "popular-password"}
    responses = await asyncio.gather(
        *(act.client.post("/user", data=body, headers=admin) for _ in range(20))
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 1, 409: 19}, [r.text for r in responses if r.status_code != 409]
    for response in responses:
        if response.status_code == 409:
            assert response.json() == {"message": "Username already taken"}
    assert [u.username for u in await act.users()] == ["admin", "popular"]
    assert (await act.login("popular", "popular-password"))["x-access-token"]


async def test_fifty_simultaneous_template_creates_and_edits(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    alice = await act.user_headers("alice")
    bob = await act.user_headers("bob")
    owned = [(await act.create_template(alice, f"seed-{n}"))["id"] for n in range(5)]

    calls: list[tuple[str, str, dict[str, str], dict[str, str]]] = []
    for i in range(20):
        who = alice if i % 2 else bob
        body = {"title": f"new-{i}", "url": URLS[i % 2], "description": f"d-new-{i}"}
        calls.append(("POST", "/template", who, body))
    for i in range(30):
        template_id = owned[i % len(owned)]
        who = admin if i % 5 == 0 else alice  # the admin's edit approves, racing the owner
        body = {"title": f"edit-{i}", "url": URLS[i % 2], "description": f"d-edit-{i}"}
        calls.append(("PUT", f"/template/{template_id}", who, body))

    async def call(method: str, path: str, headers: dict[str, str], body: dict[str, str]) -> Any:
        return await act.client.request(method, path, data=body, headers=headers)

    responses: list[httpx.Response] = await asyncio.gather(*(call(*c) for c in calls))
    assert all(r.status_code < 500 for r in responses), [r.text for r in responses]
    created = [r for r, c in zip(responses, calls, strict=True) if c[0] == "POST"]
    assert all(r.status_code == 200 for r in created)
    for response, (method, _, who, _body) in zip(responses, calls, strict=True):
        if method == "PUT" and response.status_code != 200:
            assert who is alice
            assert response.json() == {"message": "Unauthorized edit to approved post"}

    rows = {t.id: t for t in await act.templates()}
    assert len(rows) == 25
    users = {u.id: u.username for u in await act.users()}
    sent = {c[3]["title"]: c for c in calls}
    for template in rows.values():
        if template.title.startswith("seed-"):
            assert template.approved is False
            continue
        method, _, who, body = sent[template.title]
        # Each row holds exactly one request's three fields, never a mix of two.
        assert (template.url, template.description) == (body["url"], body["description"])
        if method == "POST":
            assert template.approved is False
            assert users[template.user_id] == ("alice" if who is alice else "bob")
        else:
            assert users[template.user_id] == "alice"
            # An approved post holds the admin's fields: the owner's edit never lands
            # after the approval.
            if template.approved:
                assert who is admin, template.title
            else:
                assert who is alice
    created_ids = {r.json()["template"]["id"] for r in created}
    assert created_ids == set(rows) - set(owned)


async def test_edits_racing_deletes_are_200_403_or_404(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    alice = await act.user_headers("alice")
    ids = [(await act.create_template(alice, f"t{n}"))["id"] for n in range(5)]
    calls = []
    for template_id in ids:
        for i in range(4):
            body = {"title": f"e{i}", "url": URLS[0]}
            calls.append(("PUT", template_id, alice, body))
            calls.append(("PUT", template_id, admin, body))
        calls.append(("DELETE", template_id, alice, {}))
        calls.append(("DELETE", template_id, admin, {}))
    responses = await asyncio.gather(
        *(
            act.client.request(method, f"/template/{tid}", data=body or None, headers=who)
            for method, tid, who, body in calls
        )
    )
    assert all(r.status_code in {200, 403, 404} for r in responses), [
        (r.status_code, r.text) for r in responses if r.status_code not in {200, 403, 404}
    ]
    assert await act.templates() == []
    deletes = [r for r, c in zip(responses, calls, strict=True) if c[0] == "DELETE"]
    assert sum(r.status_code == 200 for r in deletes) == len(ids)


async def test_two_admins_deleting_each_other_leave_one(act: Actions) -> None:
    first = await act.user_headers("first", admin=True)
    second = await act.user_headers("second", admin=True)
    one, two = await act.users()
    responses = await asyncio.gather(
        act.client.delete(f"/user/{two.public_id}", headers=first),
        act.client.delete(f"/user/{one.public_id}", headers=second),
    )
    assert all(r.status_code < 500 for r in responses), [r.text for r in responses]
    remaining = await act.users()
    assert len(remaining) >= 1 and all(u.admin for u in remaining)
