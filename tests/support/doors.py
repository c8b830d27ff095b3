"""Two doors, one protocol: the same operation through REST or GraphQL, with outcomes
reduced to what both doors promise (data, or a refusal with its status, message and code)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from gateway import errors

# Each refusal's HTTP status and GraphQL code, from the one error vocabulary.
KINDS = [
    errors.BadInput,
    errors.Unauthenticated,
    errors.Forbidden,
    errors.NotFound,
    errors.Conflict,
]
CODE_OF_STATUS = {kind.status: kind.code for kind in KINDS}
STATUS_OF_CODE = {kind.code: kind.status for kind in KINDS}

Headers = dict[str, str]


@dataclass(frozen=True)
class Refused:
    """A refusal as both doors must show it: REST by status and message, GraphQL by
    extensions.code and message (each door fills the other half from the vocabulary)."""

    status: int
    message: str
    code: str


def refused(kind: type[errors.GatewayError], message: str) -> Refused:
    return Refused(kind.status, message, kind.code)


Outcome = Any  # the door's data (dicts, lists of titles, True), or a Refused


class Door(Protocol):
    name: str

    async def login(self, username: str, password: str) -> Outcome: ...
    async def logout(self, headers: Headers) -> Outcome: ...
    async def list_users(self, headers: Headers) -> Outcome: ...
    async def get_user(self, headers: Headers, public_id: str) -> Outcome: ...
    async def create_user(self, headers: Headers, username: str, password: str) -> Outcome: ...
    async def promote_user(self, headers: Headers, public_id: str) -> Outcome: ...
    async def delete_user(self, headers: Headers, public_id: str) -> Outcome: ...
    async def create_template(self, headers: Headers, title: str, url: str) -> Outcome: ...
    async def get_template(self, headers: Headers, template_id: int) -> Outcome: ...
    async def update_template(
        self, headers: Headers, template_id: int, title: str, url: str
    ) -> Outcome: ...
    async def delete_template(self, headers: Headers, template_id: int) -> Outcome: ...
    async def feed(self, headers: Headers) -> Outcome: ...
    async def templates(self, headers: Headers, **filters: Any) -> Outcome: ...


def user_view(user: dict[str, Any]) -> dict[str, Any]:
    return {"username": user["username"], "admin": user["admin"]}


def template_view(template: dict[str, Any]) -> dict[str, Any]:
    return {k: template[k] for k in ("title", "url", "approved", "username")}


class RestDoor:
    name = "rest"

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def _call(self, method: str, path: str, headers: Headers, **kw: Any) -> Any:
        response = await self.client.request(method, path, headers=headers, **kw)
        body = response.json()
        if response.status_code != 200:
            return Refused(
                response.status_code, body["message"], CODE_OF_STATUS[response.status_code]
            )
        return body

    async def login(self, username: str, password: str) -> Outcome:
        response = await self.client.get("/login", auth=(username, password))
        if response.status_code != 200:
            return Refused(response.status_code, response.json()["message"], "UNAUTHENTICATED")
        return {"x-access-token": response.json()["token"]}

    async def logout(self, headers: Headers) -> Outcome:
        body = await self._call("POST", "/logout", headers)
        return body if isinstance(body, Refused) else True

    async def list_users(self, headers: Headers) -> Outcome:
        body = await self._call("GET", "/user", headers)
        return body if isinstance(body, Refused) else [u["username"] for u in body["users"]]

    async def get_user(self, headers: Headers, public_id: str) -> Outcome:
        body = await self._call("GET", f"/user/{public_id}", headers)
        return body if isinstance(body, Refused) else user_view(body["user"])

    async def create_user(self, headers: Headers, username: str, password: str) -> Outcome:
        body = await self._call(
            "POST", "/user", headers, json={"username": username, "password": password}
        )
        return body if isinstance(body, Refused) else user_view(body["user"])

    async def promote_user(self, headers: Headers, public_id: str) -> Outcome:
        body = await self._call("PUT", f"/user/{public_id}", headers)
        return body if isinstance(body, Refused) else True

    async def delete_user(self, headers: Headers, public_id: str) -> Outcome:
        body = await self._call("DELETE", f"/user/{public_id}", headers)
        return body if isinstance(body, Refused) else True

    async def create_template(self, headers: Headers, title: str, url: str) -> Outcome:
        body = await self._call("POST", "/template", headers, json={"title": title, "url": url})
        return body if isinstance(body, Refused) else template_view(body["template"])

    async def get_template(self, headers: Headers, template_id: int) -> Outcome:
        body = await self._call("GET", f"/template/{template_id}", headers)
        return body if isinstance(body, Refused) else template_view(body["template"])

    async def update_template(
        self, headers: Headers, template_id: int, title: str, url: str
    ) -> Outcome:
        body = await self._call(
            "PUT", f"/template/{template_id}", headers, json={"title": title, "url": url}
        )
        return body if isinstance(body, Refused) else template_view(body["template"])

    async def delete_template(self, headers: Headers, template_id: int) -> Outcome:
        body = await self._call("DELETE", f"/template/{template_id}", headers)
        return body if isinstance(body, Refused) else True

    async def feed(self, headers: Headers) -> Outcome:
        body = await self._call("GET", "/", headers)
        return body if isinstance(body, Refused) else [t["title"] for t in body["templates"]]

    async def templates(self, headers: Headers, **filters: Any) -> Outcome:
        params = {k: str(v).lower() if isinstance(v, bool) else v for k, v in filters.items()}
        body = await self._call("GET", "/template", headers, params=params)
        return body if isinstance(body, Refused) else [t["title"] for t in body["templates"]]


USER = "username admin"
TEMPLATE = "title url approved username"


class GraphQLDoor:
    name = "graphql"

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def _call(
        self, headers: Headers, document: str, field: str, **variables: Any
    ) -> Any:
        response = await self.client.post(
            "/graphql", json={"query": document, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        if body.get("errors"):
            [error] = body["errors"]
            # No data leaks beside an error: the field (or the whole result) is null.
            assert body["data"] is None or body["data"].get(field) is None, body
            code = error["extensions"]["code"]
            return Refused(STATUS_OF_CODE[code], error["message"], code)
        return body["data"][field]

    async def login(self, username: str, password: str) -> Outcome:
        data = await self._call(
            {},
            "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }",
            "login",
            u=username,
            p=password,
        )
        return data if isinstance(data, Refused) else {"x-access-token": data["token"]}

    async def logout(self, headers: Headers) -> Outcome:
        return await self._call(headers, "mutation { logout }", "logout")

    async def list_users(self, headers: Headers) -> Outcome:
        data = await self._call(headers, "{ users { username } }", "users")
        return data if isinstance(data, Refused) else [u["username"] for u in data]

    async def get_user(self, headers: Headers, public_id: str) -> Outcome:
        return await self._call(
            headers, f"query($p: String!) {{ user(publicId: $p) {{ {USER} }} }}", "user",
            p=public_id,
        )

    async def create_user(self, headers: Headers, username: str, password: str) -> Outcome:
        return await self._call(
            headers,
            "mutation($u: String!, $p: String!) "
            f"{{ createUser(username: $u, password: $p) {{ {USER} }} }}",
            "createUser",
            u=username,
            p=password,
        )

    async def promote_user(self, headers: Headers, public_id: str) -> Outcome:
        data = await self._call(
            headers, "mutation($p: String!) { promoteUser(publicId: $p) { admin } }",
            "promoteUser", p=public_id,
        )
        return data if isinstance(data, Refused) else data["admin"]

    async def delete_user(self, headers: Headers, public_id: str) -> Outcome:
        return await self._call(
            headers, "mutation($p: String!) { deleteUser(publicId: $p) }", "deleteUser",
            p=public_id,
        )

    async def create_template(self, headers: Headers, title: str, url: str) -> Outcome:
        return await self._call(
            headers,
            "mutation($t: String!, $u: String!) "
            f"{{ createTemplate(title: $t, url: $u) {{ {TEMPLATE} }} }}",
            "createTemplate",
            t=title,
            u=url,
        )

    async def get_template(self, headers: Headers, template_id: int) -> Outcome:
        return await self._call(
            headers, f"query($id: Int!) {{ template(id: $id) {{ {TEMPLATE} }} }}", "template",
            id=template_id,
        )

    async def update_template(
        self, headers: Headers, template_id: int, title: str, url: str
    ) -> Outcome:
        return await self._call(
            headers,
            "mutation($id: Int!, $t: String!, $u: String!) "
            f"{{ updateTemplate(id: $id, title: $t, url: $u) {{ {TEMPLATE} }} }}",
            "updateTemplate",
            id=template_id,
            t=title,
            u=url,
        )

    async def delete_template(self, headers: Headers, template_id: int) -> Outcome:
        return await self._call(
            headers, "mutation($id: Int!) { deleteTemplate(id: $id) }", "deleteTemplate",
            id=template_id,
        )

    async def feed(self, headers: Headers) -> Outcome:
        data = await self._call(headers, "{ feed { title } }", "feed")
        return data if isinstance(data, Refused) else [t["title"] for t in data]

    async def templates(self, headers: Headers, **filters: Any) -> Outcome:
        data = await self._call(
            headers,
            "query($approved: Boolean, $username: String) "
            "{ templates(approved: $approved, username: $username) { title } }",
            "templates",
            **filters,
        )
        return data if isinstance(data, Refused) else [t["title"] for t in data]
