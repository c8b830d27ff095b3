"""``Deprecation`` and ``Sunset`` on responses to requests signed with the original's tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth.caller import Caller
from gateway.middleware import HTTPMiddleware
from gateway.settings import Settings


class LegacyTokenHeadersMiddleware(HTTPMiddleware):
    """While LEGACY_TOKENS_UNTIL is set, a response to a request signed in with one of
    the original app's tokens tells the client to log in again: ``Deprecation``
    (RFC 9745: deprecated since this process began accepting them) and ``Sunset``
    (RFC 8594: when they stop working). Installed only while the setting is on."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        super().__init__(app)
        until = settings.legacy_tokens_until
        assert until is not None, "installed only while LEGACY_TOKENS_UNTIL is set"
        since = min(datetime.now(UTC), until)
        self.headers = [
            (b"deprecation", b"@%d" % int(since.timestamp())),
            (b"sunset", format_datetime(until, usegmt=True).encode("latin-1")),
        ]

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def marking_send(message: Message) -> None:
            caller: Caller | None = scope.get("state", {}).get("caller")
            if message["type"] == "http.response.start" and caller and caller.legacy_token:
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, marking_send)
