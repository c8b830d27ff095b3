"""APP_TOKENS_REQUIRED: a valid ``x-application-token`` before anything else is looked at."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from gateway.auth.caller import Caller
from gateway.errors import GatewayError
from gateway.middleware import HTTPMiddleware, gateway_error_response
from gateway.services import apps

# Paths an operator's probes and a browser's asset requests reach without any token.
OPEN_PATHS = ("/healthz", "/readyz", "/metrics", "/static/", "/docs", "/openapi.json")


class AppTokenMiddleware(HTTPMiddleware):
    """Every route (login and GraphQL included) but the open ones needs a registered,
    unrevoked application token. Installed only when the setting is on."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _is_open(scope):
            await self.app(scope, receive, send)
            return
        caller: Caller = scope["state"]["caller"]
        try:
            caller.app = await apps.check_app_token(
                caller.db, Headers(scope=scope).get("x-application-token")
            )
        except GatewayError as exc:
            await gateway_error_response(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _is_open(scope: Scope) -> bool:
    path: str = scope["path"]
    if path.startswith(OPEN_PATHS):
        return True
    # The GraphiQL page itself holds no data, and a browser cannot add headers to a
    # navigation; its queries still need the token.
    accept = Headers(scope=scope).get("accept", "")
    return path == "/graphql" and scope["method"] == "GET" and "text/html" in accept
