"""Browser hardening headers (CSP, nosniff, no-referrer, no framing) on every response."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.middleware import HTTPMiddleware

# Measured in Chromium (tests/browser/test_browser_ui.py): scripts need only 'self' (no inline,
# no eval); GraphiQL's dialogs inject <style> elements, hence 'unsafe-inline' for styles
# only. Fonts and icons are data: URIs inside the vendored CSS.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeadersMiddleware(HTTPMiddleware):
    """The headers on every response, errors included; a header the response already
    carries is left as it is."""

    def __init__(self, app: ASGIApp, *, csp: str = CONTENT_SECURITY_POLICY) -> None:
        super().__init__(app)
        self.headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"content-security-policy", csp.encode()),
        ]

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in self.headers if n not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
