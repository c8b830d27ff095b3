"""The REST contract as OpenAPI 3.1, generated from the route table and the operations of
``operations.py``; Swagger UI at /docs."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import BaseRoute, Route

from gateway.rest import endpoints
from gateway.rest.operations import (
    BODIES,
    FAILURES,
    JSON,
    OPERATIONS,
    PATH_PARAMETERS,
    QUERY,
    QUERY_HELP,
    SCHEMAS,
    Operation,
    Schema,
    ref,
)
from gateway.rest.payloads import FORM_TYPES
from gateway.settings import Settings

SWAGGER_PAGE = Path(__file__).parent.parent / "static" / "swagger" / "index.html"


def openapi_document(settings: Settings, routes: list[BaseRoute] | None = None) -> Schema:
    """The whole document; raises KeyError naming a route/method with no Operation."""
    paths: dict[str, dict[str, Schema]] = {}
    for route in [*endpoints.routes, *endpoints.probes] if routes is None else routes:
        if not isinstance(route, Route):
            continue
        path = route.path_format
        methods = sorted(set(route.methods or ()) - {"HEAD"})  # HEAD: Starlette's twin of GET
        for method in methods:
            operation = OPERATIONS.get((method, path))
            if operation is None:
                raise KeyError(f"{method} {path} is not documented in gateway/rest/operations.py")
            name = route.name if len(methods) == 1 else f"{route.name}_{method.lower()}"
            paths.setdefault(path, {})[method.lower()] = _operation(
                operation, route, name, settings
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Gateway REST API",
            "version": "1.0.0",
            "description": "The original meme API's REST contract. Every failure is "
            '`{"message": "..."}`. Bodies are accepted as JSON or form data. Lists page '
            "with limit/offset and answer X-Total-Count and an RFC 8288 Link header.",
        },
        "tags": [{"name": t} for t in ("auth", "users", "templates", "health")],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "accessToken": {"type": "apiKey", "in": "header", "name": "x-access-token"},
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "appToken": {"type": "apiKey", "in": "header", "name": "x-application-token"},
                "basicAuth": {"type": "http", "scheme": "basic"},
            },
        },
    }


def _operation(operation: Operation, route: Route, name: str, settings: Settings) -> Schema:
    apps = settings.app_tokens_required
    doc: Schema = {
        "operationId": name,
        "summary": operation.summary,
        "tags": [operation.tag],
        "security": _security(operation, apps),
        "responses": _responses(operation, apps),
    }
    if operation.description:
        doc["description"] = operation.description
    parameters = [_path_parameter(name) for name in route.param_convertors]
    parameters += [
        {"name": n, "in": "query", "schema": QUERY[n], "description": QUERY_HELP[n]}
        for n in operation.query
    ]
    if parameters:
        doc["parameters"] = parameters
    if operation.body is not None:
        media = {"schema": ref(operation.body)}
        doc["requestBody"] = {
            "required": operation.body_required,
            "content": {t: media for t in (JSON, *FORM_TYPES)},
        }
    return doc


def _security(operation: Operation, apps: bool) -> list[dict[str, list[str]]]:
    app: dict[str, list[str]] = {"appToken": []} if apps else {}
    if operation.who == "probe":
        return []
    if operation.who == "anyone":
        return [app | {"basicAuth": []}, app]
    if apps and operation.app_signup:
        return [app]
    return [app | {"accessToken": []}, app | {"bearerAuth": []}]


def _responses(operation: Operation, apps: bool) -> dict[str, Schema]:
    statuses = set(operation.failures) | {500}
    if operation.who != "probe":
        statuses |= {503}
    if operation.who in {"user", "admin"} or (apps and operation.who == "anyone"):
        statuses.add(401)
    if operation.who == "admin" and not (apps and operation.app_signup):
        statuses.add(403)
    ok: Schema = {
        "description": "OK",
        "content": {JSON: {"schema": BODIES[operation.ok]}},
    }
    if operation.paged:
        ok["headers"] = {
            "X-Total-Count": {
                "required": True,
                "description": "How many rows the filters match",
                "schema": {"type": "integer", "minimum": 0},
            },
            "Link": {
                "required": False,
                "description": 'RFC 8288 `<url>; rel="next"` when there is a next page',
                "schema": {"type": "string"},
            },
        }
    responses: dict[str, Schema] = {"200": ok}
    for status in sorted(statuses):
        failure: Schema = {
            "description": FAILURES[status],
            "content": {JSON: {"schema": ref("Error")}},
        }
        if status == 401 and operation.who == "anyone":
            failure["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        if status == 429:
            failure["headers"] = {
                "Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 0}}
            }
        responses[str(status)] = failure
    return responses


def _path_parameter(name: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS[name]}


def docs_routes(settings: Settings) -> list[BaseRoute]:
    """``GET /openapi.json`` (built once, at start) and ``GET /docs`` (Swagger UI)."""
    document = openapi_document(settings)
    page = SWAGGER_PAGE.read_text(encoding="utf-8")

    async def openapi_json(request: Request) -> JSONResponse:
        return JSONResponse(document)

    async def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(page)

    return [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ]
