"""Two gateway instances on one database agree at once: nothing about a user is cached.

Two real `gateway serve` processes share the PostgreSQL (or MariaDB) test database; a
logout or a promotion made through one holds on the very next request to the other.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support.live import ADMIN, prepare_database
from tests.support.serve_process import ServeProcess


@pytest.fixture(params=["postgresql", "mysql"])
def server_url(server_databases: dict[str, str], request: pytest.FixtureRequest) -> str:
    for url in server_databases.values():
        if make_url(url).get_backend_name() == request.param:
            return url
    pytest.skip(f"no reachable {request.param} in GATEWAY_TEST_DATABASES")


def token(client: httpx.Client, username: str, password: str) -> dict[str, str]:
    response = client.get("/login", auth=(username, password))
    assert response.status_code == 200, response.text
    return {"x-access-token": response.json()["token"]}


@pytest.mark.slow
def test_logout_and_promotion_on_one_instance_hold_on_the_other(
    server_url: str, tmp_path: Path
) -> None:
    prepare_database(server_url)
    admin_env = {"ADMIN_USERNAME": ADMIN[0], "ADMIN_PASSWORD": ADMIN[1]}
    with (
        ServeProcess(server_url, tmp_path, **admin_env) as a_server,
        ServeProcess(server_url, tmp_path) as b_server,
        httpx.Client(base_url=a_server.base_url, timeout=30) as a,
        httpx.Client(base_url=b_server.base_url, timeout=30) as b,
    ):
        admin = token(a, *ADMIN)
        created = a.post("/user", data={"username": "bob", "password": "bob-password"},
                         headers=admin)
        assert created.status_code == 200, created.text
        bob_id = created.json()["user"]["public_id"]
        bob = token(a, "bob", "bob-password")  # issued by A

        # B honours A's token, and B knows bob is not an admin
        assert b.get("/", headers=bob).status_code == 200
        assert b.get("/user", headers=bob).status_code == 403

        # promoted on A → an admin on B at once, with the same token
        assert a.put(f"/user/{bob_id}", headers=admin).status_code == 200
        users = b.get("/user", headers=bob)
        assert users.status_code == 200
        assert {u["username"] for u in users.json()["users"]} == {"admin", "bob"}
        graphql = b.post("/graphql", json={"query": "{ users { username } }"}, headers=bob)
        assert graphql.json()["data"]["users"] == [{"username": "admin"}, {"username": "bob"}]

        # a token issued by B works on A too; then a logout on A ends both on B
        bob_on_b = token(b, "bob", "bob-password")
        assert a.get("/", headers=bob_on_b).status_code == 200
        assert a.post("/logout", headers=bob).status_code == 200
        for headers in (bob, bob_on_b):
            refused = b.get("/", headers=headers)
            assert refused.status_code == 401
            assert refused.json() == {"message": "User Token is invalid!"}
            me = b.post("/graphql", json={"query": "{ me { username } }"}, headers=headers)
            assert me.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert a.get("/", headers=bob).status_code == 401
