"""The printed SDL is pinned by a snapshot, and every @admin field refuses non-admins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import ObjectTypeDefinitionNode, parse

from gateway.graphql.schema import print_sdl
from tests.support import ROOT
from tests.support.actions import Actions

SNAPSHOT = ROOT / "gateway" / "graphql" / "schema.graphql"
REGENERATE = "gateway schema > gateway/graphql/schema.graphql"


def test_sdl_matches_the_committed_snapshot() -> None:
    assert print_sdl() == SNAPSHOT.read_text(), (
        f"The GraphQL schema changed. If that is intended, regenerate the snapshot with "
        f"`{REGENERATE}` and commit it with the change."
    )


@pytest.mark.slow
def test_gateway_schema_command_prints_the_snapshot(tmp_path: Path) -> None:
    command = Path(sys.executable).with_name("gateway")
    result = subprocess.run(
        [str(command), "schema"], capture_output=True, text=True, cwd=tmp_path, timeout=60,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == SNAPSHOT.read_text()


def test_sdl_declares_and_uses_the_admin_directive() -> None:
    sdl = print_sdl()
    assert "directive @admin on FIELD_DEFINITION" in sdl
    for line in (
        "users(limit: Int = 100, offset: Int = 0): [User!]! @admin",
        "user(publicId: String!): User @admin",
        "createUser(username: String!, password: String!): User! @admin",
        "promoteUser(publicId: String!): User! @admin",
        "deleteUser(publicId: String!): Boolean! @admin",
        "approveTemplate(id: Int!): Template! @admin",
    ):
        assert line in sdl


def admin_fields() -> set[str]:
    """Every field the printed schema marks @admin (so a new one cannot go untested)."""
    return {
        field.name.value
        for definition in parse(print_sdl()).definitions
        if isinstance(definition, ObjectTypeDefinitionNode)
        for field in definition.fields or ()
        if any(d.name.value == "admin" for d in field.directives or ())
    }


# One call per @admin field; ``$p`` is a real user's public id, ``$id`` a real template.
ADMIN_CALLS: dict[str, str] = {
    "users": "query { users { username } }",
    "user": "query($p: String!) { user(publicId: $p) { username } }",
    "createUser": 'mutation { createUser(username: "newbie", password: "newbie-pass") { id } }',
    "promoteUser": "mutation($p: String!) { promoteUser(publicId: $p) { admin } }",
    "deleteUser": "mutation($p: String!) { deleteUser(publicId: $p) }",
    "approveTemplate": "mutation($id: Int!) { approveTemplate(id: $id) { approved } }",
}


def test_every_admin_field_has_a_case() -> None:
    assert admin_fields() == set(ADMIN_CALLS)


async def gql(
    client: httpx.AsyncClient, query: str, headers: dict[str, str], **variables: Any
) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    ("who", "message", "code"),
    [
        ("user", "Cannot perform that function!", "FORBIDDEN"),
        ("anonymous", "User Token is missing!", "UNAUTHENTICATED"),
    ],
)
async def test_admin_fields_refuse_everyone_else(
    act: Actions, who: str, message: str, code: str
) -> None:
    await act.user_headers("admin", admin=True)
    owner_headers = await act.user_headers("owner")
    headers = owner_headers if who == "user" else {}
    template = await act.create_template(owner_headers, "unapproved")
    owner = next(u for u in await act.users() if u.username == "owner")
    for field, query in ADMIN_CALLS.items():
        variables = {"p": owner.public_id} if "$p" in query else {}
        if "$id" in query:
            variables = {"id": template["id"]}
        body = await gql(act.client, query, headers, **variables)
        assert body["data"] is None or body["data"][field] is None, (field, body)
        assert [(e["message"], e["extensions"]["code"], e["path"]) for e in body["errors"]] == [
            (message, code, [field])
        ], field
    # Nothing happened: no new user, nobody promoted or deleted, nothing approved.
    assert [(u.username, u.admin) for u in await act.users()] == [
        ("admin", True),
        ("owner", False),
    ]
    assert [t.approved for t in await act.templates()] == [False]


async def test_admin_fields_work_for_an_admin(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    await act.create_user("owner")
    template = await act.create_template(await act.login("owner"), "unapproved")
    owner = next(u for u in await act.users() if u.username == "owner")
    answers = {}
    for field, query in ADMIN_CALLS.items():
        variables = {"p": owner.public_id} if "$p" in query else {}
        if "$id" in query:
            variables = {"id": template["id"]}
        body = await gql(act.client, query, admin, **variables)
        assert "errors" not in body, (field, body)
        answers[field] = body["data"][field]
    assert answers["users"] == [{"username": "admin"}, {"username": "owner"}]
    assert answers["user"] == {"username": "owner"}
    assert answers["promoteUser"] == {"admin": True}
    assert answers["deleteUser"] is True
    assert answers["approveTemplate"] == {"approved": True}
    assert [u.username for u in await act.users()] == ["admin", "newbie"]
