"""Every REST failure as ``{"message": ...}``: domain errors, routing misses, outages, bugs."""

from __future__ import annotations

import logging

from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from gateway.db.engine import outage
from gateway.errors import INTERNAL, SERVICE_UNAVAILABLE, GatewayError
from gateway.middleware import error_response, gateway_error_response

log = logging.getLogger("gateway.rest")

HTTP_MESSAGES = {404: "Not found", 405: "Method not allowed"}


async def gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return gateway_error_response(exc)


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


async def database_error(request: Request, exc: Exception) -> Response:
    """An unreachable database is 503, answered here so it is not logged as a crash."""
    if outage(exc):
        log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
        return error_response(503, SERVICE_UNAVAILABLE)
    return await unexpected_error(request, exc)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug: 500 with no details; the traceback goes to the log only."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, INTERNAL)


exception_handlers = {
    GatewayError: gateway_error,
    HTTPException: http_error,
    sa_exc.DBAPIError: database_error,
    sa_exc.TimeoutError: database_error,
    OSError: database_error,
    Exception: unexpected_error,
}
