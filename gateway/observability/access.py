"""Per request: an X-Request-ID, one access-log line and the metrics; and ``GET /metrics``."""

from __future__ import annotations

import logging
import re
import secrets
import time
from functools import lru_cache
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.types import Message, Receive, Scope, Send

from gateway.failures import failed
from gateway.middleware import HTTPMiddleware, error_response, gateway_error_response
from gateway.observability import metrics
from gateway.observability.logs import ACCESS_LOGGER, request_id

access_log = logging.getLogger(ACCESS_LOGGER)
log = logging.getLogger("gateway")

# A client's id is kept when it is short and plain (it ends up in logs and headers).
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
UNMATCHED = "<unmatched>"
CONVERTOR = re.compile(r"\{(\w+):\w+\}")  # "{template_id:int}" is logged as "{template_id}"

# Where a door puts the GraphQL operation name for this request's log line and metrics:
# ``scope["state"][GRAPHQL_OPERATION]`` (the GraphQL door's context sets it).
GRAPHQL_OPERATION = "graphql_operation"


class AccessLogMiddleware(HTTPMiddleware):
    """Just inside the security headers. Gives every request an id (the client's
    X-Request-ID when sane, else a new one) and returns it on every response, errors
    included; writes one access-log line and counts the request once it is answered. An
    exception no door answered (one raised in a middleware) is answered here as
    gateway.failures decides, so even those responses carry the id and get their line."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        rid = _request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = rid
        reset = request_id.set(rid)
        root_path = scope.get("root_path", "")
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = rid
            await send(message)

        metrics.request_started()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if response_started:
                log.error("error after the response started", exc_info=exc)
                raise
            shown = failed(exc, where=f"{scope['method']} {scope['path']}")
            await gateway_error_response(shown)(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            _record(scope, root_path, status, seconds)
            request_id.reset(reset)


def _request_id(scope: Scope) -> str:
    given = Headers(scope=scope).get("x-request-id", "")
    # 128 random bits as 32 hex digits, the shape of a uuid4's hex without its cost.
    return given if SANE_REQUEST_ID.fullmatch(given) else secrets.token_hex(16)


def route_template(scope: Scope, root_path: str = "") -> str:
    """The matched route's path with its parameters unfilled (``/user/{public_id}``);
    UNMATCHED when no route matched, so raw paths never become metric labels."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return UNMATCHED
    prefix = scope.get("root_path", "")[len(root_path):]
    return _template(prefix, path, isinstance(route, Mount))


@lru_cache(maxsize=1024)
def _template(prefix: str, path: str, mounted: bool) -> str:
    if mounted:  # a mount's own path is already the end of the prefix it set
        return f"{prefix or path}/{{path}}"
    return CONVERTOR.sub(r"{\1}", f"{prefix}{path}") or "/"


def _record(scope: Scope, root_path: str, status: int, seconds: float) -> None:
    state: dict[str, Any] = scope.get("state", {})
    method: str = scope["method"]
    route = route_template(scope, root_path)
    operation: str | None = state.get(GRAPHQL_OPERATION)
    metrics.count_request(method, route, status, seconds)
    if operation is not None:
        metrics.count_graphql_operation(operation)
    if not access_log.isEnabledFor(logging.INFO):
        return
    fields = {
        "request_id": state.get("request_id"),
        "method": method,
        "route": route,
        "path": scope.get("path"),
        "status": status,
        "duration_ms": round(seconds * 1000, 1),
        "user": _public_id(state.get("caller")),
        "graphql_operation": operation,
        "client": (scope.get("client") or (None,))[0],
    }
    access_log.info(
        "%s %s %d %.1fms", method, route, status, fields["duration_ms"], extra={"access": fields}
    )


def _public_id(caller: Any) -> str | None:
    """The caller's public id if its user was loaded anyway (never loaded for a log line)."""
    user = getattr(caller, "known_user", None)
    return None if user is None else user.public_id


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text; with METRICS_TOKEN set, only for ``Authorization: Bearer <it>``."""
    expected: str | None = request.app.state.settings.metrics_token
    if expected:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            given.strip().encode(), expected.encode()
        ):
            return error_response(
                401, "Metrics token is missing or invalid", {"WWW-Authenticate": "Bearer"}
            )
    return Response(metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")
