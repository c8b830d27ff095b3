"""Headless Debian Chromium driven by Playwright, recording what a page asked for and said.

Use with a real server (``tests.support.live.LiveGateway``)::

    with LiveGateway(url, tmp_path) as gw, open_page(gw.base_url, tmp_path) as page:
        page.goto(f"{gw.base_url}/docs")
        ...
        assert page.problems() == []

Playwright's own browser downloads are never used (no ``playwright install``): the
Debian ``chromium`` package is launched by path. Any request to another origin is
recorded and aborted, so a page that needs the internet fails instead of hanging.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.machine import unavailable

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page, Route

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# Chromium reports CSP violations on the console too; this makes them impossible to miss
# (and init scripts are exempt from the page's CSP).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


def require_browser() -> None:
    """Skip when Chromium or Playwright is missing; on CI (CI=true) that is a failure."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if not missing:
        return
    unavailable("browser test needs " + " and ".join(missing))


@dataclass
class RecordedPage:
    """A Playwright page plus everything it requested and every error it reported."""

    page: Page
    origin: str
    folder: Path
    also_allowed: tuple[str, ...] = ()
    requests: list[str] = field(default_factory=list)
    request_headers: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.page, name)

    def screenshot_to(self, name: str) -> Path:
        path = self.folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def foreign_requests(self) -> list[str]:
        """Requests to anywhere but the gateway and ``also_allowed`` origins (data: URIs
        are inline, not requests)."""
        origins = (self.origin, *self.also_allowed)
        return [
            url
            for url in self.requests
            if not url.startswith((*(f"{o}/" for o in origins), "data:", "blob:"))
            and url not in origins
        ]

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and requests that left the gateway."""
        return [*self.console_errors, *(f"left the gateway: {u}" for u in self.foreign_requests())]


@contextmanager
def open_page(
    origin: str, folder: Path, *, also_allowed: tuple[str, ...] = (), intercept: bool = True
) -> Iterator[RecordedPage]:
    """A fresh browser and page; the browser closes when the block ends. Requests to
    ``origin`` and to the ``also_allowed`` origins go through; all others are aborted.

    ``intercept=False`` aborts nothing (other requests are still recorded, see
    ``foreign_requests``): while Playwright intercepts, it answers CORS preflights itself,
    so a test of the servers' own preflight answers must turn interception off."""
    allowed = tuple(f"{o}/" for o in (origin, *also_allowed))
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_init_script(REPORT_CSP_VIOLATIONS)
            page = RecordedPage(context.new_page(), origin, folder, also_allowed)

            def only_the_gateway(route: Route) -> None:
                url = route.request.url
                if url.startswith((*allowed, "data:")):
                    route.continue_()
                else:
                    page.blocked.append(url)
                    route.abort("blockedbyclient")

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    page.console_errors.append(f"console: {message.text}")

            if intercept:
                context.route("**/*", only_the_gateway)
            page.page.on("console", on_console)
            page.page.on("pageerror", lambda exc: page.console_errors.append(f"uncaught: {exc}"))
            page.page.on("request", lambda request: page.requests.append(request.url))
            page.page.on(
                "request",
                lambda request: page.request_headers.append((request.url, request.headers)),
            )
            yield page
        finally:
            browser.close()
