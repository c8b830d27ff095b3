"""The Strawberry ASGI app behind ``Route("/graphql", …)``: context, limits, HTTP-level errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL

from gateway.bodies import json_value
from gateway.errors import BadInput
from gateway.graphql.context import Context
from gateway.graphql.errors import BAD_USER_INPUT, failure_response, http_error_body
from gateway.graphql.schema import create_schema
from gateway.responses import dumps
from gateway.settings import Settings

NOT_AN_OBJECT = "The GraphQL request must be a JSON object"
UNPARSABLE = "Unable to parse request body as JSON"  # Strawberry's own words
HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
# GraphiQL loading only the gateway's own /static assets (see gateway/static/README).
GRAPHIQL_PAGE = Path(__file__).parent.parent / "static" / "graphiql" / "index.html"


class GatewayGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with the gateway's context, and every refusal that happens
    before an operation runs (bad JSON, a mutation over GET, a wrong method, and any
    exception that escapes Strawberry) answered as a GraphQL-shaped JSON error with its
    HTTP status instead of plain text or the REST door's shape."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            create_schema(settings),
            graphql_ide="graphiql",
            allow_queries_via_get=True,
            subscription_protocols=(),
        )
        self.graphiql_page = GRAPHIQL_PAGE.read_text(encoding="utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a Route only matches HTTP; kept for completeness
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope, receive))
        except HTTPException as exc:
            headers = {"Allow": "GET, POST"} if exc.status_code == 405 else None
            code = HTTP_CODES.get(exc.status_code, BAD_USER_INPUT)
            response = JSONResponse(
                http_error_body(exc.reason, code), exc.status_code, headers=headers
            )
        except Exception as exc:  # an outage, a body over the limit, a bug: still GraphQL
            response = failure_response(exc, where="GraphQL request")
        # Taken out of the scope's state, which the context's request holds: left
        # there, the two would make a reference cycle for the garbage collector.
        context: Context | None = scope.get("state", {}).pop("graphql_context", None)
        if context is not None:
            await context.settle()
        await response(scope, receive, send)

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self.graphiql_page)

    async def get_context(self, request: Request | Any, response: Response | Any) -> Context:
        context = Context.for_request(request, response)
        request.state.graphql_context = context  # for __call__ to settle it
        return context

    def encode_json(self, data: object) -> bytes:
        return dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        """Every JSON text Strawberry reads (the body; ``variables`` and ``extensions`` of
        a GET) through the one decoder (gateway.bodies). Strawberry reads the body's
        ``.get("query")``: ``42`` or ``null`` would be a 500, and a list a batch (not
        enabled), so anything but an object is a 400."""
        try:
            decoded = json_value(data)
        except BadInput:
            raise HTTPException(400, UNPARSABLE) from None
        if not isinstance(decoded, dict):
            raise HTTPException(400, NOT_AN_OBJECT)
        return decoded


def create_graphql_app(settings: Settings) -> ASGIApp:
    """The ASGI app served at exactly ``/graphql`` (a Route, not a Mount: no 307)."""
    return GatewayGraphQL(settings)
