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
from starlette.responses import JSONResponse
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
        # The operation's name for the request's access-log line and metrics
        # (gateway.observability.access reads scope["state"]["graphql_operation"]).
        request = getattr(self.execution_context.context, "request", None)
        if request is not None:
            name = self.execution_context.operation_name
            request.scope.setdefault("state", {})["graphql_operation"] = name or ""
        result = self.execution_context.result
        errors: list[GraphQLError] | None = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = [self.translate(error) for error in errors]

    def translate(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if error.path is None and (original is None or isinstance(original, GraphQLError)):
            if self.execution_context.graphql_document is None:
                return _with(error, error.message, PARSE_FAILED)
            code = BAD_USER_INPUT if self.executing else VALIDATION_FAILED
            return _with(error, error.message, code)
        shown = failed(original or error, where=f"GraphQL at {error.path}")
        if isinstance(shown, Unavailable):
            # Like every other API request during an outage: HTTP 503, so load
            # balancers and clients retry elsewhere or later.
            response = getattr(self.execution_context.context, "response", None)
            if response is not None:
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
