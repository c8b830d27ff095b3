"""413 for a request body over MAX_BODY_BYTES, announced or streamed."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import BODY_TOO_LARGE, TooLarge
from gateway.middleware import HTTPMiddleware, error_response

# Methods whose body no route reads (a GET's body, if any, is never received).
BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyLimitMiddleware(HTTPMiddleware):
    """413 for a body over the limit, whether announced by Content-Length or streamed.
    A streamed one raises TooLarge from ``receive``: the door reading the body answers it
    in its own format, and what no door answered is answered here."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            await error_response(413, BODY_TOO_LARGE)(scope, receive, send)
            return
        if scope["method"] in BODILESS:  # no route reads their body: nothing to count
            await self.app(scope, receive, send)
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise TooLarge(BODY_TOO_LARGE)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except TooLarge:
            if started:
                raise
            await error_response(413, BODY_TOO_LARGE)(scope, receive, send)
