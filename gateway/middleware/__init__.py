"""Pure-ASGI middleware shared by both front doors, one module per layer (as Starlette's
own ``middleware/``); every layer is an ``HTTPMiddleware``, which lets every other kind of
scope (lifespan, websocket) through untouched."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import GatewayError
from gateway.responses import JSONResponse


class HTTPMiddleware:
    """A layer over HTTP requests: ``handle`` sees nothing else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The one failure shape of the REST contract: ``{"message": ...}``."""
    return JSONResponse({"message": message}, status_code=status, headers=dict(headers or {}))


def gateway_error_response(exc: GatewayError) -> JSONResponse:
    return error_response(exc.status, exc.message, exc.headers)
