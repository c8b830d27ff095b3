"""The Strawberry ASGI app behind ``Route("/graphql", …)``: context, limits, HTTP-level errors."""

from __future__ import annotations

from inspect import isawaitable
from pathlib import Path
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLError, OperationType, execute
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.http import GraphQLHTTPResponse

from gateway.bodies import json_value
from gateway.errors import BadInput
from gateway.graphql.context import Context
from gateway.graphql.documents import Entry
from gateway.graphql.errors import (
    BAD_USER_INPUT,
    failure_response,
    http_error_body,
    name_operation,
    translate,
)
from gateway.graphql.outlines import Outline, outline
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
    HTTP status instead of plain text or the REST door's shape.

    A query whose text is already known goes a shorter way (``run_known``)."""

    def __init__(self, settings: Settings) -> None:
        self.gateway_schema = create_schema(settings)
        super().__init__(
            self.gateway_schema,
            graphql_ide="graphiql",
            allow_queries_via_get=True,
            subscription_protocols=(),
        )
        self.graphiql_page = GRAPHIQL_PAGE.read_text(encoding="utf-8")
        self.graphql_core_schema = self.gateway_schema._schema  # Strawberry has no public name
        self.executor_class = self.gateway_schema.execution_context_class

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # a Route only matches HTTP; kept for completeness
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self.run_known(request) if _plain_json_post(scope) else None
            if response is None:
                response = await self.run(request)
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

    async def run_known(self, request: Request) -> Response | None:
        """A query over POST whose text parsed and validated before, run the short way:
        straight to graphql-core's execution (Strawberry's resolvers, field extensions
        and executor as always), with the errors translated as ``GatewayErrors`` does.

        Strawberry's view and ``Schema.execute`` around it cost more than the execution
        of a typical screen (the content-type parsing, the extension runner's hooks, the
        request and execution contexts), and for such a query none of them decides
        anything: the document, its validation and its operation are known. Anything
        else returns None, before any effect, and takes Strawberry's way: a text not
        seen yet (which that way parses, validates and keeps), one that failed
        validation, a mutation, a body Strawberry would refuse, a streamed answer."""
        try:
            data = json_value(await request.body())
        except BadInput:
            return None
        if type(data) is not dict:
            return None
        query = data.get("query")
        if type(query) is not str:
            return None
        entry = self.gateway_schema.documents.get(query)
        if entry is None or entry.errors:
            return None
        name, variables, extensions = (
            data.get("operationName"), data.get("variables"), data.get("extensions")
        )
        if not (
            (name is None or type(name) is str)
            and (variables is None or type(variables) is dict)
            and (extensions is None or type(extensions) is dict)
        ):
            return None
        operation = entry.operations.get(name)
        if operation is None or operation.operation is not OperationType.QUERY:
            return None

        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)
        outline = self.outline_of(entry, name, variables)
        try:
            answer = await outline.answer(context, variables) if outline is not None else None
            value: dict[str, Any] | None
            if isinstance(answer, dict):
                value, errors = answer, None
            else:  # no outline, or a replay of the outline's outcomes (see outlines.py)
                result = execute(
                    self.graphql_core_schema,
                    entry.document,
                    # No root value: the view's get_root_value is Strawberry's (None).
                    context_value=context,
                    variable_values=variables,
                    operation_name=name,
                    middleware=None if answer is None else [answer],
                    executor_class=self.executor_class,
                    is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                    operation_extensions=extensions,
                )
                if isawaitable(result):
                    result = await result
                value, errors = result.data, result.errors
        except Exception as exc:  # as Strawberry's execute turns it into an error
            value, errors = None, [GraphQLError(str(exc), original_error=exc)]
        name_operation(request, operation.name.value if operation.name else None)
        body: GraphQLHTTPResponse = {"data": value}
        if errors:
            body["errors"] = [
                translate(e, parsed=True, executing=True, response=sub_response).formatted
                for e in errors
            ]
        return self.create_response(body, sub_response)

    def outline_of(
        self, entry: Entry, name: str | None, variables: dict[str, Any] | None
    ) -> Outline | None:
        """The outline of the operation ``name`` of a kept document, worked out at its
        first request whose variables coerce, and kept with the document."""
        if name in entry.outlines:
            kept: Outline | None = entry.outlines[name]
            return kept
        found = outline(self, entry.document, name, variables)
        if found is False:  # cannot be told from this request
            return None
        entry.outlines[name] = found
        return found

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


def _plain_json_post(scope: Scope) -> bool:
    """A POST of ``application/json`` that asks for no streamed answer (``run_known``)."""
    if scope["method"] != "POST":
        return False
    content_type = accept = b""
    for key, value in scope["headers"]:
        if key == b"content-type":
            content_type = value
        elif key == b"accept":
            accept = value.lower()
    return (
        content_type.partition(b";")[0].strip().lower() == b"application/json"
        and b"multipart/mixed" not in accept
        and b"text/event-stream" not in accept
    )


def create_graphql_app(settings: Settings) -> ASGIApp:
    """The ASGI app served at exactly ``/graphql`` (a Route, not a Mount: no 307)."""
    return GatewayGraphQL(settings)
