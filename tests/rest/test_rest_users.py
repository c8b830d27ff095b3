"""REST user routes (SPEC §5): list, get, create, promote, delete, with every failure."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.actions import Actions

USER_KEYS = {"id", "public_id", "username", "admin"}
NOT_ADMIN = {"message": "Cannot perform that function!"}
NO_USER = {"message": "No user found!"}


def assert_user_shape(user: dict[str, Any]) -> None:
    assert set(user) == USER_KEYS
    assert "password" not in user


async def test_list_users(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    await act.create_user("alice")
    response = await act.client.get("/user", headers=admin)
    assert response.status_code == 200
    users = response.json()["users"]
    for user in users:
        assert_user_shape(user)
    assert [(u["username"], u["admin"]) for u in users] == [("admin", True), ("alice", False)]
    rows = await act.users()
    assert [u["public_id"] for u in users] == [r.public_id for r in rows]
    assert [u["id"] for u in users] == [r.id for r in rows]
    assert response.headers["x-total-count"] == "2"
    assert "link" not in response.headers


async def test_list_users_paging(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    for name in ("u1", "u2", "u3", "u4"):
        await act.create_user(name)
    response = await act.client.get("/user", params={"limit": 2, "offset": 1}, headers=admin)
    assert [u["username"] for u in response.json()["users"]] == ["u1", "u2"]
    assert response.headers["x-total-count"] == "5"
    link = response.headers["link"]
    assert link.endswith('; rel="next"')
    assert "limit=2" in link and "offset=3" in link
    following = link[1 : link.index(">")]
    response = await act.client.get(following, headers=admin)
    assert [u["username"] for u in response.json()["users"]] == ["u3", "u4"]
    assert "link" not in response.headers


async def test_user_routes_need_an_admin(act: Actions) -> None:
    await act.create_user("admin", admin=True)
    alice = await act.user_headers("alice")
    target = (await act.users())[0].public_id
    calls = [
        ("GET", "/user", {}),
        ("GET", f"/user/{target}", {}),
        ("POST", "/user", {"data": {"username": "bob", "password": "bob-password"}}),
        ("PUT", f"/user/{target}", {}),
        ("DELETE", f"/user/{target}", {}),
    ]
    before = [(u.username, u.admin) for u in await act.users()]
    for method, path, kwargs in calls:
        response = await act.client.request(method, path, headers=alice, **kwargs)
        assert (response.status_code, response.json()) == (403, NOT_ADMIN), (method, path)
        response = await act.client.request(method, path, **kwargs)
        assert response.status_code == 401, (method, path)
        assert response.json() == {"message": "User Token is missing!"}
    assert [(u.username, u.admin) for u in await act.users()] == before


async def test_get_user(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    alice = await act.create_user("alice")
    response = await act.client.get(f"/user/{alice.public_id}", headers=admin)
    assert response.status_code == 200
    user = response.json()["user"]
    assert_user_shape(user)
    assert user == {
        "id": alice.id,
        "public_id": alice.public_id,
        "username": "alice",
        "admin": False,
    }


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_unknown_user_is_404(act: Actions, method: str) -> None:
    admin = await act.user_headers("admin", admin=True)
    for public_id in ("00000000-0000-0000-0000-000000000000", "x" * 60, "1"):
        response = await act.client.request(method, f"/user/{public_id}", headers=admin)
        assert (response.status_code, response.json()) == (404, NO_USER)


@pytest.mark.parametrize("encoding", ["form", "json"])
async def test_create_user(act: Actions, encoding: str) -> None:
    admin = await act.user_headers("admin", admin=True)
    body = {"username": "alice", "password": "alice-password"}
    kwargs: dict[str, Any] = {"data": body} if encoding == "form" else {"json": body}
    response = await act.client.post("/user", headers=admin, **kwargs)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["message"] == "User created successfully"
    assert_user_shape(payload["user"])
    assert payload["user"]["username"] == "alice"
    assert payload["user"]["admin"] is False
    row = (await act.users())[1]
    assert row.public_id == payload["user"]["public_id"]
    assert row.password.startswith("$argon2id$")
    assert "alice-password" not in row.password
    assert (await act.login("alice"))["x-access-token"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "alice"},
        {"password": "alice-password"},
        {"username": "", "password": "alice-password"},
        {"username": "alice", "password": ""},
        {"username": "alice", "password": "short"},
        {"username": "a" * 51, "password": "alice-password"},
        {"username": "   ", "password": "alice-password"},
        {"username": "tab\tname", "password": "alice-password"},
    ],
    ids=["empty", "no-password", "no-username", "blank-username", "blank-password",
         "short-password", "long-username", "spaces", "control-char"],
)
async def test_create_user_bad_fields_are_400(act: Actions, body: dict[str, str]) -> None:
    admin = await act.user_headers("admin", admin=True)
    response = await act.client.post("/user", data=body, headers=admin)
    assert response.status_code == 400, response.text
    assert isinstance(response.json()["message"], str)
    assert [u.username for u in await act.users()] == ["admin"]


async def test_create_user_with_50_char_unicode_username(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    name = "Ü" * 49 + "😀"
    response = await act.client.post(
        "/user", json={"username": name, "password": "pass-word-1"}, headers=admin
    )
    assert response.status_code == 200, response.text
    assert (await act.users())[1].username == name
    assert (await act.login(name, "pass-word-1"))["x-access-token"]


async def test_duplicate_username_is_409(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    body = {"username": "alice", "password": "alice-password"}
    assert (await act.client.post("/user", data=body, headers=admin)).status_code == 200
    response = await act.client.post("/user", data=body, headers=admin)
    assert (response.status_code, response.json()) == (409, {"message": "Username already taken"})
    response = await act.client.post(
        "/user", data={"username": "admin", "password": "whatever-1"}, headers=admin
    )
    assert response.status_code == 409
    assert [u.username for u in await act.users()] == ["admin", "alice"]


async def test_promote_user(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    alice = await act.create_user("alice")
    alice_headers = await act.login("alice")
    assert (await act.client.get("/user", headers=alice_headers)).status_code == 403
    response = await act.client.put(f"/user/{alice.public_id}", headers=admin)
    assert (response.status_code, response.json()) == (
        200,
        {"message": "The user has been promoted!"},
    )
    assert [u.admin for u in await act.users()] == [True, True]
    # The same token now carries admin power: nothing is cached in the token.
    assert (await act.client.get("/user", headers=alice_headers)).status_code == 200
    again = await act.client.put(f"/user/{alice.public_id}", headers=admin)
    assert again.status_code == 200


async def test_delete_user_keeps_templates_without_owner(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    alice = await act.create_user("alice")
    alice_headers = await act.login("alice")
    made = await act.create_template(alice_headers, "Alice's")
    response = await act.client.delete(f"/user/{alice.public_id}", headers=admin)
    assert (response.status_code, response.json()) == (
        200,
        {"message": "The user has been deleted!"},
    )
    assert [u.username for u in await act.users()] == ["admin"]
    [row] = await act.templates()
    assert row.id == made["id"] and row.user_id is None
    response = await act.client.get(f"/template/{made['id']}", headers=admin)
    template = response.json()["template"]
    assert template["username"] is None and template["user_id"] is None
    response = await act.client.get(f"/user/{alice.public_id}", headers=admin)
    assert response.status_code == 404
    response = await act.client.delete(f"/user/{alice.public_id}", headers=admin)
    assert (response.status_code, response.json()) == (404, NO_USER)


async def test_last_admin_cannot_be_deleted(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    me = (await act.users())[0]
    response = await act.client.delete(f"/user/{me.public_id}", headers=admin)
    assert (response.status_code, response.json()) == (
        409,
        {"message": "Cannot delete the last admin"},
    )
    second = await act.user_headers("second", admin=True)
    response = await act.client.delete(f"/user/{me.public_id}", headers=second)
    assert response.status_code == 200
    other = (await act.users())[0]
    assert other.username == "second"
    response = await act.client.delete(f"/user/{other.public_id}", headers=second)
    assert response.status_code == 409
    assert [u.username for u in await act.users()] == ["second"]
