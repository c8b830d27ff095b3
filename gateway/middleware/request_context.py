"""Per request: the database handle (``Db``) and the lazy ``Caller``, for both doors."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth.caller import Caller, token_from_headers
from gateway.auth.throttle import LoginThrottle
from gateway.db.database import Database
from gateway.middleware import HTTPMiddleware
from gateway.settings import Settings


class RequestContextMiddleware(HTTPMiddleware):
    """One ``Db`` (whose session is made only if the request needs one) and one lazy
    Caller per request; the session, if any, is closed when the response is sent."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        database: Database,
        settings: Settings,
        login_throttle: LoginThrottle | None = None,
    ) -> None:
        super().__init__(app)
        self.database = database
        self.settings = settings
        self.login_throttle = login_throttle

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        db = self.database.request()
        client = scope.get("client")
        caller = Caller(
            db=db,
            settings=self.settings,
            token=token_from_headers(Headers(scope=scope)),
            client_address=client[0] if client else None,
            login_throttle=self.login_throttle,
        )
        state = scope.setdefault("state", {})
        state["db"] = db
        state["caller"] = caller
        try:
            await self.app(scope, receive, send)
        finally:
            await db.aclose()
