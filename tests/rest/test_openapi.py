"""GET /openapi.json and /docs: a valid OpenAPI 3.1 document of every route, honest about
what the server really answers."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from starlette.routing import Route

from gateway.rest import endpoints
from gateway.rest.openapi import openapi_document
from gateway.settings import Settings
from tests.conftest import MakeApp
from tests.support.actions import Actions, actions_for

REST_DIR = Path(endpoints.__file__).parent


async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")  # no token: the contract is public
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def route_operations() -> set[tuple[str, str]]:
    """(method, path) of every REST route, as the route table declares them."""
    found = set()
    for route in [*endpoints.routes, *endpoints.probes]:
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":  # Starlette adds HEAD to every GET
                found.add((method.lower(), route.path_format))
    return found


async def test_the_document_is_valid_openapi_3_1(client: httpx.AsyncClient) -> None:
    doc = await document(client)
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema


async def test_every_route_and_method_is_documented_and_nothing_else(
    client: httpx.AsyncClient,
) -> None:
    doc = await document(client)
    documented = {(m, path) for path, ops in doc["paths"].items() for m in ops}
    assert documented == route_operations()
    assert len(documented) == 16


def test_an_undocumented_route_stops_the_document_from_being_built() -> None:
    async def hidden(request: Any) -> None: ...

    routes = [
        *endpoints.routes,
        Route("/template/{template_id:int}/like", hidden, methods=["POST"]),
    ]
    with pytest.raises(KeyError, match="POST /template/{template_id}/like"):
        openapi_document(Settings(), routes)


def test_every_query_parameter_the_rest_door_reads_is_documented() -> None:
    """Names passed to query_int/query_bool/query_text anywhere in gateway/rest."""
    readers = {"query_int", "query_bool", "query_text"}
    read = set()
    for source in REST_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in readers
                and len(node.args) == 2
                and isinstance(node.args[1], ast.Constant)
            ):
                read.add(node.args[1].value)
    doc = openapi_document(Settings())
    documented = {
        p["name"]
        for ops in doc["paths"].values()
        for op in ops.values()
        for p in op.get("parameters", [])
        if p["in"] == "query"
    }
    assert read >= {"limit", "offset", "approved", "username"}
    assert read <= documented


def test_path_parameters_are_typed() -> None:
    doc = openapi_document(Settings())
    (template_id,) = doc["paths"]["/template/{template_id}"]["get"]["parameters"]
    assert template_id == {
        "name": "template_id",
        "in": "path",
        "required": True,
        "schema": {
            "type": "string",
            "minLength": 1,
            "examples": ["1"],
            "description": "The template's id (a whole number); any other text answers 404",
        },
    }
    (public_id,) = doc["paths"]["/user/{public_id}"]["delete"]["parameters"]
    assert public_id["schema"]["type"] == "string"


def test_security_schemes_and_requirements() -> None:
    doc = openapi_document(Settings())
    assert doc["components"]["securitySchemes"] == {
        "accessToken": {"type": "apiKey", "in": "header", "name": "x-access-token"},
        "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "appToken": {"type": "apiKey", "in": "header", "name": "x-application-token"},
        "basicAuth": {"type": "http", "scheme": "basic"},
    }
    paths = doc["paths"]
    token = [{"accessToken": []}, {"bearerAuth": []}]
    assert paths["/template"]["post"]["security"] == token
    assert paths["/user"]["get"]["security"] == token
    assert paths["/login"]["get"]["security"] == [{"basicAuth": []}, {}]
    assert paths["/healthz"]["get"]["security"] == []
    assert "403" in paths["/user"]["post"]["responses"]


def test_with_application_tokens_required_every_route_but_the_probes_needs_one() -> None:
    doc = openapi_document(Settings(app_tokens_required=True))
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path in {"/healthz", "/readyz"}:
                assert op["security"] == []
                continue
            assert op["security"], (method, path)
            assert all("appToken" in requirement for requirement in op["security"])
            assert "401" in op["responses"]
    # Sign-up from a registered app needs nothing more, and no admin.
    sign_up = doc["paths"]["/user"]["post"]
    assert sign_up["security"] == [{"appToken": []}]
    assert "403" not in sign_up["responses"]


class Contract:
    """Checks real responses against the document: documented status, body schema,
    required headers."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.checked: list[tuple[str, str, int]] = []

    def check(self, method: str, path: str, response: httpx.Response) -> httpx.Response:
        operation = self.doc["paths"][path][method]
        status = str(response.status_code)
        assert status in operation["responses"], (method, path, status, response.text)
        documented = operation["responses"][status]
        schema = documented["content"]["application/json"]["schema"]
        assert response.headers["content-type"] == "application/json"
        validator = Draft202012Validator({**schema, "components": self.doc["components"]})
        errors = [e.message for e in validator.iter_errors(response.json())]
        assert errors == [], (method, path, status, response.json())
        for name, header in documented.get("headers", {}).items():
            if header.get("required"):
                assert name in response.headers, (method, path, name)
        self.checked.append((method, path, response.status_code))
        return response


async def test_real_responses_match_the_documented_schemas(
    client: httpx.AsyncClient, act: Actions
) -> None:
    api = Contract(await document(client))
    c = act.client
    admin = await act.user_headers("admin", admin=True)
    user = await act.user_headers("user")

    login = api.check("get", "/login", await c.get("/login", auth=("user", "user-password")))
    assert "token" in login.json()
    api.check("get", "/login", await c.get("/login", auth=("user", "wrong")))
    api.check("post", "/login", await c.post("/login", json={"username": "user"}))
    api.check("post", "/login", await c.post("/login", content=b"{", headers=json_type()))
    api.check("post", "/login", await c.post("/login", content=b"x", headers=text_type()))

    created = api.check(
        "post", "/user", await c.post("/user", json=new_user("carol"), headers=admin)
    ).json()["user"]
    api.check("post", "/user", await c.post("/user", data=new_user("carol"), headers=admin))
    api.check("post", "/user", await c.post("/user", json={"username": "x"}, headers=admin))
    api.check("post", "/user", await c.post("/user", json=new_user("dave"), headers=user))
    api.check("post", "/user", await c.post("/user", json=new_user("dave")))

    users = api.check("get", "/user", await c.get("/user?limit=1", headers=admin))
    assert users.headers["X-Total-Count"] == "3" and 'rel="next"' in users.headers["Link"]
    api.check("get", "/user", await c.get("/user?limit=0", headers=admin))
    api.check("get", "/user", await c.get("/user", headers=user))
    one = f"/user/{created['public_id']}"
    api.check("get", "/user/{public_id}", await c.get(one, headers=admin))
    api.check("get", "/user/{public_id}", await c.get("/user/nobody", headers=admin))
    api.check("put", "/user/{public_id}", await c.put(one, headers=admin))
    api.check("delete", "/user/{public_id}", await c.delete(one, headers=admin))
    api.check("delete", "/user/{public_id}", await c.delete(one, headers=admin))

    body = {"title": "Drake", "url": "https://example.com/drake.png"}
    mine = api.check("post", "/template", await c.post("/template", data=body, headers=user))
    template = f"/template/{mine.json()['template']['id']}"
    api.check("post", "/template", await c.post("/template", json={"title": "x"}, headers=user))
    api.check(
        "post", "/template", await c.post("/template", json=body | {"url": "ftp://x"}, headers=user)
    )
    api.check("get", "/template", await c.get("/template?approved=true", headers=user))
    api.check("get", "/template", await c.get("/template?approved=maybe", headers=user))
    api.check("get", "/", await c.get("/?limit=5", headers=user))
    api.check("get", "/", await c.get("/"))
    api.check("get", "/template/{template_id}", await c.get(template, headers=user))
    api.check("get", "/template/{template_id}", await c.get("/template/999", headers=user))
    api.check("put", "/template/{template_id}", await c.put(template, json=body, headers=user))
    api.check("put", "/template/{template_id}", await c.put(template, json=body, headers=admin))
    api.check("put", "/template/{template_id}", await c.put(template, json=body, headers=user))
    api.check("delete", "/template/{template_id}", await c.delete(template, headers=user))
    api.check("delete", "/template/{template_id}", await c.delete(template, headers=admin))

    api.check("post", "/logout", await c.post("/logout", headers=user))
    api.check("post", "/logout", await c.post("/logout", headers=user))
    api.check("get", "/healthz", await c.get("/healthz"))
    api.check("get", "/readyz", await c.get("/readyz"))

    seen = {status for _, _, status in api.checked}
    assert seen >= {200, 400, 401, 403, 404, 409, 415}
    assert {(m, p) for m, p, _ in api.checked} == route_operations()


async def test_too_large_and_throttled_answers_are_documented(make_app: MakeApp) -> None:
    app = await make_app(max_body_bytes=64)
    async with actions_for(app) as act:
        api = Contract(await document(act.client))
        user = await act.user_headers("user")
        big = {"title": "x" * 100, "url": "https://example.com/a.png"}
        api.check("post", "/template", await act.client.post("/template", json=big, headers=user))
        for _ in range(10):
            response = await act.client.get("/login", auth=("user", "wrong"))
            api.check("get", "/login", response)
        assert {s for _, _, s in api.checked} >= {413, 401, 429}


async def test_the_contract_and_its_pages_need_no_token_even_with_app_tokens_required(
    make_app: MakeApp,
) -> None:
    app = await make_app(app_tokens_required=True)
    async with actions_for(app) as act:
        for path in ("/openapi.json", "/docs", "/static/swagger/swagger-ui.css"):
            assert (await act.client.get(path)).status_code == 200, path
        doc = (await act.client.get("/openapi.json")).json()
        assert doc["paths"]["/template"]["get"]["security"][0] == {
            "appToken": [],
            "accessToken": [],
        }
        refused = await act.client.get("/template")
        assert refused.status_code == 401
        assert refused.json() == {"message": "App Token is missing!"}


async def test_docs_and_graphiql_pages_load_only_the_gateways_own_assets(
    client: httpx.AsyncClient,
) -> None:
    pages = {
        "/docs": await client.get("/docs"),
        "/graphql": await client.get("/graphql", headers={"accept": "text/html"}),
    }
    for path, page in pages.items():
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert "<script>" not in page.text  # nothing inline: the CSP forbids it
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert assets and all(a.startswith("/static/") or a == "data:," for a in assets), assets
        for asset in assets:
            if asset.startswith("/static/"):
                response = await client.get(asset)
                assert response.status_code == 200, asset
                assert response.headers["cache-control"] == "public, max-age=86400"
    assert "/openapi.json" in (await client.get("/static/swagger/start.js")).text


def json_type() -> dict[str, str]:
    return {"content-type": "application/json"}


def text_type() -> dict[str, str]:
    return {"content-type": "text/plain"}


def new_user(name: str) -> dict[str, str]:
    return {"username": name, "password": f"{name}-password"}
