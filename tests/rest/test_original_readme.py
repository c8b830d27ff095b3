"""The original Flask API's README, replayed call by call as its own examples send them.

Each request is built the way the README's ``requests`` snippets build it (Basic auth,
form data, the ``x-access-token`` header) and each response is checked against the
shape the README documents. One departure is asserted on purpose: user JSON no longer
carries the ``password`` hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from typing import Any

from gateway.db.models import User
from gateway.services.users import insert_user
from tests.support.actions import Actions

HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")


def werkzeug_sha256(password: str, salt: str = "Sot2tcp9") -> str:
    """What the README's ``generate_password_hash(..., method='sha256')`` stored."""
    digest = hmac.new(salt.encode(), password.encode(), hashlib.sha256).hexdigest()
    return f"sha256${salt}${digest}"


def assert_user(user: dict[str, Any]) -> None:
    # README: {"admin", "id", "password", "public_id", "username"} -- minus "password".
    assert set(user) == {"admin", "id", "public_id", "username"}
    assert isinstance(user["admin"], bool) and isinstance(user["id"], int)
    uuid.UUID(user["public_id"])


def assert_template(template: dict[str, Any]) -> None:
    # README: description, id, posted (HTTP date), title, url, username / user_id, approved.
    for key in ("description", "id", "posted", "title", "url", "username", "user_id"):
        assert key in template, key
    assert HTTP_DATE.fullmatch(template["posted"]), template["posted"]
    assert isinstance(template["approved"], bool)


async def test_readme_walkthrough(act: Actions) -> None:
    client = act.client

    # "Creating an admin user": a werkzeug sha256 hash, as the README's snippet made.
    async with act.session() as session:
        await insert_user(
            session,
            User(
                username="admin",
                password=werkzeug_sha256("secretpassword"),
                admin=True,
                public_id=str(uuid.uuid4()),
            ),
        )

    # "Login and get a token": requests.get(URL+"/login", auth=HTTPBasicAuth(...)).
    login_response = await client.get("/login", auth=("admin", "secretpassword"))
    assert login_response.status_code == 200
    token = login_response.json()["token"]
    headers = {"x-access-token": token}
    # "Implementing own auth header": the same, with a hand-made Basic header.
    encoded = base64.b64encode(bytes("admin:secretpassword", "utf-8"))
    own = await client.get("/login", headers={"Authorization": f"Basic {encoded.decode()}"})
    assert own.status_code == 200 and set(own.json()) >= {"token"}

    # "Creating a user": requests.post(URL+"/user", data=data, headers=headers).
    data = {"username": "some usename", "password": "my password"}
    create_user = await client.post("/user", data=data, headers=headers)
    assert create_user.status_code == 200
    assert create_user.json()["message"] == "User created successfully"
    assert_user(create_user.json()["user"])

    # "Viewing user info": requests.get(URL+"/user", headers=headers).
    response = await client.get("/user", headers=headers)
    assert response.status_code == 200
    users = response.json()["users"]
    assert [u["username"] for u in users] == ["admin", "some usename"]
    for user in users:
        assert_user(user)
    assert users[0]["admin"] is True
    public_id = users[1]["public_id"]

    # "Viewing Single User": requests.get(URL+"/user/public_id", headers=headers).
    response = await client.get(f"/user/{public_id}", headers=headers)
    assert response.status_code == 200
    assert set(response.json()) == {"user"}
    assert_user(response.json()["user"])
    assert response.json()["user"]["admin"] is False

    # "Promoting a user": requests.put(URL+"/user/public_id", headers=headers).
    response = await client.put(f"/user/{public_id}", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"message": "The user has been promoted!"}

    # "Deleting a user": requests.delete(URL+"/user/public_id", headers=headers).
    response = await client.delete(f"/user/{public_id}", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"message": "The user has been deleted!"}

    # "Creating a post": the README's own payload, "http:/test.com" included.
    data = {"title": "some title", "url": "http:/test.com", "description": "some desc"}
    response = await client.post("/template", data=data, headers=headers)
    assert response.status_code == 200
    assert response.json()["message"] == "Post created"
    assert_template(response.json()["template"])
    template_id = response.json()["template"]["id"]

    # "Viewing post": requests.get(URL+"/template", headers=headers).
    response = await client.get("/template", headers=headers)
    assert response.status_code == 200
    [template] = response.json()["templates"]
    assert_template(template)
    assert (template["title"], template["url"], template["description"]) == (
        "some title", "http:/test.com", "some desc")
    assert template["username"] == "admin"

    # "View filtered post": requests.get(URL+"/", headers=headers).
    response = await client.get("/", headers=headers)
    assert response.status_code == 200
    assert [t["id"] for t in response.json()["templates"]] == [template_id]
    assert_template(response.json()["templates"][0])

    # "Viewing Single Post": requests.get(URL+"/template/template_id", headers=headers).
    response = await client.get(f"/template/{template_id}", headers=headers)
    assert response.status_code == 200
    single = response.json()["template"]
    assert_template(single)
    assert single["user_id"] == "admin"

    # "Updating a post": requests.put(URL+"/template/template_id", data=data, ...).
    data = {"title": "some title", "url": "http:/test.com", "description": "some desc"}
    response = await client.put(f"/template/{template_id}", data=data, headers=headers)
    assert response.status_code == 200
    assert response.json()["message"] == "Post Updated"
    assert_template(response.json()["template"])

    # "Deleting a post": requests.delete(URL+"/template/template_id", headers=headers).
    response = await client.delete(f"/template/{template_id}", headers=headers)
    assert response.status_code == 200
    assert response.json() == {"message": "The post has been deleted"}

    # "Any illegal or failed requests ... return a json dict with one 'message' key".
    response = await client.get(f"/template/{template_id}", headers=headers)
    assert response.status_code == 404
    assert set(response.json()) == {"message"}

    # The admin's legacy hash was upgraded at the first login.
    [admin] = await act.users()
    assert admin.password.startswith("$argon2id$")
