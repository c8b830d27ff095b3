"""Pure-ASGI middleware shared by both front doors; each skips non-HTTP scopes first."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth import Caller, token_from_headers
from gateway.db.database import Database
from gateway.db.engine import statement_count
from gateway.errors import BODY_TOO_LARGE, GatewayError, TooLarge
from gateway.services import apps
from gateway.settings import Settings
from gateway.throttle import LoginThrottle

# Methods whose body no route reads (a GET's body, if any, is never received).
BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})
# Paths an operator's probes and a browser's asset requests reach without any token.
OPEN_PATHS = ("/healthz", "/readyz", "/metrics", "/static/", "/docs", "/openapi.json")


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The one failure shape of the REST contract: ``{"message": ...}``."""
    return JSONResponse({"message": message}, status_code=status, headers=dict(headers or {}))


def gateway_error_response(exc: GatewayError) -> JSONResponse:
    return error_response(exc.status, exc.message, exc.headers)


class BodyLimitMiddleware:
    """413 for a body over the limit, whether announced by Content-Length or streamed.
    A streamed one raises TooLarge from ``receive``: the door reading the body answers it
    in its own format, and what no door answered is answered here."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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


class RequestContextMiddleware:
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
        self.app = app
        self.database = database
        self.settings = settings
        self.login_throttle = login_throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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


class SqlCountMiddleware:
    """With GATEWAY_COUNT_SQL (benchmarks only), ``X-SQL-Statements`` on every response
    tells how many SQL statements the request had run when its headers were sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counter = [0]
        reset = statement_count.set(counter)

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-sql-statements", b"%d" % counter[0])]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            statement_count.reset(reset)


class LegacyTokenHeadersMiddleware:
    """While LEGACY_TOKENS_UNTIL is set, a response to a request signed in with one of
    the original app's tokens tells the client to log in again: ``Deprecation``
    (RFC 9745: deprecated since this process began accepting them) and ``Sunset``
    (RFC 8594: when they stop working)."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        until = settings.legacy_tokens_until
        self.headers: list[tuple[bytes, bytes]] = []
        if until is not None:
            since = min(datetime.now(UTC), until)
            self.headers = [
                (b"deprecation", b"@%d" % int(since.timestamp())),
                (b"sunset", format_datetime(until, usegmt=True).encode("latin-1")),
            ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.headers:
            await self.app(scope, receive, send)
            return

        async def marking_send(message: Message) -> None:
            caller: Caller | None = scope.get("state", {}).get("caller")
            if message["type"] == "http.response.start" and caller and caller.legacy_token:
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, marking_send)


class AppTokenMiddleware:
    """With APP_TOKENS_REQUIRED, every route (login and GraphQL included) needs a valid
    ``x-application-token`` before anything else is looked at."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.enabled = settings.app_tokens_required

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.enabled or _is_open(scope):
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


# Measured in Chromium (tests/test_browser_ui.py): scripts need only 'self' (no inline,
# no eval); GraphiQL's dialogs inject <style> elements, hence 'unsafe-inline' for styles
# only. Fonts and icons are data: URIs inside the vendored CSS.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeadersMiddleware:
    """Browser hardening headers on every response, errors included; a header the
    response already carries is left as it is."""

    def __init__(self, app: ASGIApp, *, csp: str = CONTENT_SECURITY_POLICY) -> None:
        self.app = app
        self.headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"content-security-policy", csp.encode()),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in self.headers if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_open(scope: Scope) -> bool:
    path: str = scope["path"]
    if path.startswith(OPEN_PATHS):
        return True
    # The GraphiQL page itself holds no data, and a browser cannot add headers to a
    # navigation; its queries still need the token.
    accept = Headers(scope=scope).get("accept", "")
    return path == "/graphql" and scope["method"] == "GET" and "text/html" in accept

