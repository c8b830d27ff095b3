"""Every REST failure as ``{"message": ...}``: domain errors, routing misses, outages, bugs."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ExceptionHandler

from gateway.failures import EXPECTED, failed
from gateway.middleware import error_response, gateway_error_response

HTTP_MESSAGES = {404: "Not found", 405: "Method not allowed"}


async def failure(request: Request, exc: Exception) -> Response:
    """A rule's refusal or an outage, as gateway.failures decides, answered inside the
    request (its session still open, every middleware seeing the answer)."""
    return gateway_error_response(failed(exc, where=f"{request.method} {request.url.path}"))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = HTTP_MESSAGES.get(exc.status_code) or str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return error_response(exc.status_code, message, headers)


def _allowed_methods(request: Request) -> str:
    """Every method of every route on this path: the route table has one route per
    method, and Starlette's own 405 names only the first route's."""
    allowed: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            allowed |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(allowed))


# Starlette gives a handler keyed on ``Exception`` to its outermost ServerErrorMiddleware,
# outside every middleware of ours, where it never runs: the access-log layer answers a
# bug first (with the same gateway.failures decision, in this same shape).
exception_handlers: dict[Any, ExceptionHandler] = {
    HTTPException: http_error,
    **dict.fromkeys(EXPECTED, failure),
}
