"""A first walk through the REST door on every database."""

from __future__ import annotations

from tests.support.actions import Actions


async def test_admin_creates_user_and_template_shows_in_feed(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    response = await act.client.post(
        "/user", data={"username": "alice", "password": "alice-password"}, headers=admin
    )
    assert response.status_code == 200
    alice = await act.login("alice")
    mine = await act.create_template(alice, "Drake")
    assert mine["approved"] is False
    feed = await act.client.get("/", headers=alice)
    assert [t["title"] for t in feed.json()["templates"]] == ["Drake"]
    assert [u.username for u in await act.users()] == ["admin", "alice"]
