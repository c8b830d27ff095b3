"""The static page in examples/feed/, served from its own origin, in a real headless Chromium
against a real uvicorn: what it shows, what it asks for, and CORS.

Playwright's request interception is off here (``intercept=False``): while it intercepts,
Playwright answers CORS preflights itself and the gateway's own answers would go untested.
Every request is still recorded (through the DevTools protocol, preflights included), and
the tests fail on any request outside the page's origin and the gateway's.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from gateway.db.models import MemeTemplate, User
from tests.support import ROOT
from tests.support.browser import RecordedPage, open_page, require_browser
from tests.support.live import ADMIN, USER, LiveGateway, prepare_database

pytestmark = pytest.mark.slow

EXAMPLE = ROOT / "examples" / "feed"
PAGE_SIZE = 10  # feed.js asks for this many per screen load
SEARCH = "cat"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def static_site(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on a loopback port of its own (a second origin) until the block ends."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def post_template(gw: LiveGateway, token: str, title: str, description: str = "") -> int:
    response = httpx.post(
        f"{gw.base_url}/template",
        data={"title": title, "url": "https://example.com/meme.png", "description": description},
        headers={"x-access-token": token},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    template_id: int = response.json()["template"]["id"]
    return template_id


def seed(gw: LiveGateway) -> None:
    """The user, and 23 templates: the admin's 21 (an admin's start approved; 14 about
    cats, two of them only in the description, in capitals), the user's own cat draft
    (unapproved, yet in the user's feed) and another user's cat draft (not in it)."""
    gw.seed_user()
    admin, user = gw.token(*ADMIN), gw.token(*USER)
    for n in range(21):
        if n % 3 == 2:
            post_template(gw, admin, f"Dog {n}")
        elif n in (4, 9):
            post_template(gw, admin, f"Animal {n}", "a grumpy CAT")
        else:
            post_template(gw, admin, f"Cat {n}")
    post_template(gw, user, "My cat draft")  # unapproved, but the user's own: in their feed
    other = httpx.post(
        f"{gw.base_url}/user",
        data={"username": "other", "password": "other-password"},
        headers={"x-access-token": admin},
        timeout=30,
    )
    assert other.status_code == 200, other.text
    post_template(gw, gw.token("other", "other-password"), "Other cat draft")  # not shown


def database_feed(database_url: str, username: str, search: str = "") -> list[int]:
    """The feed computed here from the rows themselves: approved or the viewer's own,
    ``search`` in title or description (any case), newest first, ties by id."""

    async def read() -> list[int]:
        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                users = User.__table__.c  # type: ignore[attr-defined]
                viewer = (
                    await conn.execute(select(users.id).where(users.username == username))
                ).scalar_one()
                rows = (await conn.execute(select(MemeTemplate.__table__))).all()  # type: ignore[attr-defined]
        finally:
            await engine.dispose()
        shown = [
            r
            for r in rows
            if (r.approved or r.user_id == viewer)
            and search.lower() in f"{r.title}\n{r.description or ''}".lower()
        ]
        shown.sort(key=lambda r: (r.posted, r.id), reverse=True)
        return [r.id for r in shown]

    return asyncio.run(read())


def rest_feed(gw: LiveGateway, search: str = "") -> list[int]:
    """The REST door's answer for the same filters."""
    params = {"order": "newest", "limit": "100", **({"search": search} if search else {})}
    response = httpx.get(
        f"{gw.base_url}/",
        params=params,
        headers={"x-access-token": gw.token(*USER)},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["templates"]]


def shown_ids(page: RecordedPage) -> list[int]:
    ids = page.locator("#items li[data-id]").evaluate_all("items => items.map(i => i.dataset.id)")
    return [int(i) for i in ids]


@dataclass
class Exchange:
    method: str
    url: str
    status: int | None = None  # None: no response (refused or never sent)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class NetworkLog:
    """Every request the page's network stack sent, CORS preflights included (Playwright's
    own request events leave preflights out), with the status and headers answered."""

    exchanges: dict[str, Exchange] = field(default_factory=dict)

    @classmethod
    def of(cls, page: RecordedPage) -> NetworkLog:
        log = cls()
        cdp = page.context.new_cdp_session(page.page)
        cdp.on("Network.requestWillBeSent", log._sent)
        cdp.on("Network.responseReceived", log._answered)
        cdp.send("Network.enable")
        return log

    def _sent(self, event: dict[str, Any]) -> None:
        request = event["request"]
        self.exchanges[event["requestId"]] = Exchange(request["method"], request["url"])

    def _answered(self, event: dict[str, Any]) -> None:
        exchange = self.exchanges.get(event["requestId"])
        if exchange is not None:
            response = event["response"]
            exchange.status = response["status"]
            exchange.headers = {k.lower(): v for k, v in response["headers"].items()}

    def to(self, url: str, method: str) -> list[Exchange]:
        return [e for e in self.exchanges.values() if e.url == url and e.method == method]

    def outside(self, *origins: str) -> list[str]:
        return [
            e.url
            for e in self.exchanges.values()
            if not e.url.startswith(tuple(f"{o}/" for o in origins))
        ]


@pytest.fixture
def gateway_and_sites(db_url: str, tmp_path: Path) -> Iterator[tuple[LiveGateway, str, str]]:
    """The gateway, the example page's origin (in CORS_ORIGINS) and a second copy of the
    page on an origin that is not."""
    require_browser()
    prepare_database(db_url)
    with static_site(EXAMPLE) as allowed, static_site(EXAMPLE) as refused:
        with LiveGateway(db_url, tmp_path, CORS_ORIGINS=allowed) as gw:
            seed(gw)
            yield gw, allowed, refused


def log_in(page: RecordedPage, site: str, gw: LiveGateway) -> None:
    from playwright.sync_api import expect

    page.goto(f"{site}/?api={gw.base_url}")
    expect(page.locator("#api")).to_have_value(gw.base_url)
    expect(page.locator("#search")).to_be_hidden()  # until signed in
    page.fill("input[name=username]", USER[0])
    page.fill("input[name=password]", USER[1])
    page.get_by_role("button", name="Log in").click()


def test_feed_page_logs_in_searches_and_loads_more_one_request_per_screen(
    gateway_and_sites: tuple[LiveGateway, str, str], db_url: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    gw, site, _ = gateway_and_sites
    everything = database_feed(db_url, USER[0])
    cats = database_feed(db_url, USER[0], SEARCH)
    assert len(everything) == 22 and len(cats) == 15  # two pages each
    assert rest_feed(gw) == everything
    assert rest_feed(gw, SEARCH) == cats
    graphql = f"{gw.base_url}/graphql"

    with open_page(site, tmp_path, also_allowed=(gw.base_url,), intercept=False) as page:
        network = NetworkLog.of(page)
        items = page.locator("#items li[data-id]")
        total = page.locator("#total")

        # Log in (the login mutation), then the first screen: me + the feed, one request.
        log_in(page, site, gw)
        expect(page.locator("#who")).to_have_text("Signed in as user")
        expect(page.locator("#search")).to_be_visible()
        expect(total).to_have_text(f"{len(everything)} templates")
        assert shown_ids(page) == everything[:PAGE_SIZE]
        assert len(network.to(graphql, "POST")) == 2

        # Search (any case): one request, the list replaced.
        page.fill("input[name=search]", SEARCH.upper())
        page.get_by_role("button", name="Search").click()
        expect(total).to_have_text(f"{len(cats)} templates")
        expect(items).to_have_count(PAGE_SIZE)
        assert shown_ids(page) == cats[:PAGE_SIZE]
        assert len(network.to(graphql, "POST")) == 3

        # Load more: one request, the next page appended by cursor, then no more.
        page.get_by_role("button", name="Load more").click()
        expect(items).to_have_count(len(cats))
        expect(page.get_by_role("button", name="Load more")).to_be_hidden()
        assert shown_ids(page) == cats
        titles = page.locator("#items li[data-id] > :first-child").all_inner_texts()
        assert "My cat draft" in titles and "Other cat draft" not in titles
        page.screenshot_to("feed-example")

        # GraphQL requests: 4 POSTs (login, first screen, search, load more), all 200.
        posts = network.to(graphql, "POST")
        assert [p.status for p in posts] == [200] * 4
        assert all(p.headers["access-control-allow-origin"] == site for p in posts)
        # CORS preflights are counted apart: not GraphQL requests, and the browser caches
        # the gateway's answer (Access-Control-Max-Age), so at most one per request.
        preflights = network.to(graphql, "OPTIONS")
        assert 1 <= len(preflights) <= len(posts)
        assert all(p.status == 200 for p in preflights)
        assert all(p.headers["access-control-allow-origin"] == site for p in preflights)
        allowed_headers = preflights[0].headers["access-control-allow-headers"].lower()
        assert {"content-type", "x-access-token"} <= {h.strip() for h in allowed_headers.split(",")}
        assert len(network.exchanges) == 3 + len(posts) + len(preflights)  # page, css, js
        assert network.outside(site, gw.base_url) == []
        assert page.problems() == []


def test_feed_page_from_an_origin_not_in_cors_origins_is_refused(
    gateway_and_sites: tuple[LiveGateway, str, str], tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    gw, _, refused = gateway_and_sites
    graphql = f"{gw.base_url}/graphql"
    with open_page(refused, tmp_path, also_allowed=(gw.base_url,), intercept=False) as page:
        network = NetworkLog.of(page)
        log_in(page, refused, gw)

        expect(page.locator("#status")).to_have_class("error")
        expect(page.locator("#status")).to_have_text("Failed to fetch")
        expect(page.locator("#who")).to_have_text("Not signed in")
        expect(page.locator("#items li")).to_have_count(0)
        expect(page.locator("#search")).to_be_hidden()
        page.screenshot_to("feed-example-refused")

        # The gateway refused the preflight, so the login mutation was never sent.
        preflights = network.to(graphql, "OPTIONS")
        assert [p.status for p in preflights] == [400]
        assert "access-control-allow-origin" not in preflights[0].headers
        assert [p.status for p in network.to(graphql, "POST")] == [None]
        assert network.outside(refused, gw.base_url) == []

        # The browser says why on the console: that error is expected, nothing else.
        cors = [e for e in page.console_errors if "blocked by CORS policy" in e]
        assert len(cors) == 1 and "Response to preflight request" in cors[0]
        assert f"from origin '{refused}'" in cors[0]
        others = [e for e in page.console_errors if e not in cors]
        assert all("net::ERR_FAILED" in e for e in others)
