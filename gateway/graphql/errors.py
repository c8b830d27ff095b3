"""Every GraphQL error gets a message and an ``extensions.code``, in one extension.

    error                                   message kept        extensions.code
     ├── unparsable document, token limit   yes                 GRAPHQL_PARSE_FAILED
     ├── validation (unknown field, depth,  yes                 GRAPHQL_VALIDATION_FAILED
     │   aliases, introspection switched off)
     ├── a variable of the wrong type       yes                 BAD_USER_INPUT
     └── raised by a resolver               as gateway.failures decides: a GatewayError's
                                            message and .code; an outage UNAVAILABLE (and
                                            HTTP 503); a bug INTERNAL_SERVER_ERROR, masked

A request refused before any operation runs (bad JSON, a persisted-query store that is
down) gets a GraphQL-shaped body with the HTTP status of its error (``failure_response``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.extensions import SchemaExtension

from gateway.errors import GatewayError, Unavailable
from gateway.failures import failed

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"


class GatewayErrors(SchemaExtension):
    """Rewrites the operation's errors once it is over (one instance per request)."""

    def __init__(self) -> None:
        self.executing = False

    def on_execute(self) -> Iterator[None]:
        self.executing = True
        yield

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context
        name_operation(getattr(context.context, "request", None), context.operation_name)
        result = context.result
        errors: list[GraphQLError] | None = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = [
                translate(
                    error,
                    parsed=context.graphql_document is not None,
                    executing=self.executing,
                    response=getattr(context.context, "response", None),
                )
                for error in errors
            ]


def name_operation(request: Request | None, name: str | None) -> None:
    """The operation's name for the request's access-log line and metrics
    (gateway.observability.access reads scope["state"]["graphql_operation"])."""
    if request is not None:
        request.scope.setdefault("state", {})["graphql_operation"] = name or ""


def translate(
    error: GraphQLError, *, parsed: bool, executing: bool, response: Response | None
) -> GraphQLError:
    """The error as the caller sees it (the table of the module docstring): ``parsed``,
    whether the document parsed; ``executing``, whether execution had begun (a variable
    of the wrong type). An outage also sets ``response``'s status to 503."""
    original = error.original_error
    if error.path is None and (original is None or isinstance(original, GraphQLError)):
        if not parsed:
            return _with(error, error.message, PARSE_FAILED)
        return _with(error, error.message, BAD_USER_INPUT if executing else VALIDATION_FAILED)
    shown = failed(original or error, where=f"GraphQL at {error.path}")
    if isinstance(shown, Unavailable) and response is not None:
        # Like every other API request during an outage: HTTP 503, so load balancers
        # and clients retry elsewhere or later.
        response.status_code = shown.status
    return _with(error, shown.message, shown.code)


def _with(error: GraphQLError, message: str, code: str) -> GraphQLError:
    extensions: dict[str, Any] = {"code": code}
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


def http_error_body(message: str, code: str) -> dict[str, Any]:
    """A GraphQL-shaped body for a request refused before any operation ran."""
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}


def failure_response(exc: Exception, *, where: str) -> JSONResponse:
    """Any exception met before an operation ran, GraphQL-shaped, with its HTTP status."""
    shown: GatewayError = failed(exc, where=where)
    return JSONResponse(http_error_body(shown.message, shown.code), shown.status, shown.headers)
