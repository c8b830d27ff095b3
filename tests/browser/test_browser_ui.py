"""GraphiQL (with its sign-in bar) and Swagger UI in a real headless Chromium against a
real uvicorn, offline."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from gateway.services import apps
from tests.support.browser import RecordedPage, open_page, require_browser
from tests.support.live import ADMIN, USER, LiveGateway, prepare_database

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Request

pytestmark = pytest.mark.slow

FEED_QUERY = "{ me { username } feed(limit: 5) { id title author { username } } }"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[LiveGateway]:
    """A gateway on SQLite with the admin, the user and one approved template."""
    require_browser()
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    prepare_database(url)
    with LiveGateway(url, tmp_path) as gw:
        gw.seed_user()
        response = httpx.post(
            f"{gw.base_url}/template",
            json={"title": "Offline meme", "url": "https://example.com/offline.png"},
            headers={"x-access-token": gw.token(*ADMIN)},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        yield gw


@pytest.fixture
def page(gateway: LiveGateway, tmp_path: Path) -> Iterator[RecordedPage]:
    with open_page(gateway.base_url, tmp_path) as page:
        yield page


def replace_editor_text(page: RecordedPage, editor: str, text: str) -> None:
    """Click into a GraphiQL editor, select everything and put ``text`` in its place as a
    paste would (typing key by key would fight the editor's bracket auto-closing)."""
    page.locator(f"{editor} .CodeMirror").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)


HEADERS_EDITOR = "section[aria-label=Headers] .graphiql-editor:not(.hidden)"


def type_headers(page: RecordedPage, text: str) -> None:
    """Open GraphiQL's Headers tab and put ``text`` in place of what it holds."""
    page.get_by_role("button", name="Headers", exact=True).click()
    replace_editor_text(page, HEADERS_EDITOR, text)


def test_graphiql_runs_a_query_with_the_token_from_the_headers_tab(
    gateway: LiveGateway, page: RecordedPage
) -> None:
    from playwright.sync_api import expect

    token = gateway.token(*USER)
    page.goto(f"{gateway.base_url}/graphql")
    expect(page.locator(".graphiql-container")).to_be_visible()

    replace_editor_text(page, ".graphiql-query-editor", FEED_QUERY)
    type_headers(page, json.dumps({"x-access-token": token}))
    page.locator(".graphiql-execute-button").click()

    result = page.locator("section.result-window")
    expect(result).to_contain_text('"username": "user"')
    expect(result).to_contain_text('"title": "Offline meme"')
    expect(result).to_contain_text('"username": "admin"')
    assert page.screenshot_to("graphiql").stat().st_size > 0

    # The docs explorer and a dialog (which injects a <style> element) under the CSP.
    page.get_by_role("button", name="Show Documentation Explorer").click()
    expect(page.locator(".graphiql-doc-explorer")).to_contain_text("Query")
    page.get_by_role("button", name="Open settings dialog").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.press("Escape")

    sent = [h for url, h in page.request_headers if url == f"{gateway.base_url}/graphql"]
    assert any(h.get("x-access-token") == token for h in sent)
    assert page.problems() == []
    assert {u.removeprefix(gateway.base_url) for u in page.requests} >= {
        "/graphql",
        "/static/graphiql/graphiql.min.js",
        "/static/graphiql/react.production.min.js",
    }


def test_swagger_ui_lists_every_operation_and_authorizes_with_the_token(
    gateway: LiveGateway, page: RecordedPage
) -> None:
    from playwright.sync_api import expect

    token = gateway.token(*USER)
    operations = httpx.get(f"{gateway.base_url}/openapi.json").json()["paths"]
    count = sum(len(methods) for methods in operations.values())

    page.goto(f"{gateway.base_url}/docs")
    expect(page.locator(".opblock")).to_have_count(count)
    expect(page.locator(".opblock-summary-path").first).to_be_visible()

    page.get_by_role("button", name="Authorize").first.click()
    access_token = page.locator("form").filter(has_text="accessToken (apiKey)")
    access_token.get_by_role("textbox").fill(token)
    access_token.get_by_role("button", name="Apply credentials").click()
    expect(access_token.get_by_role("heading", name="Authorized")).to_be_visible()
    access_token.get_by_role("button", name="Close").click()

    operation = page.locator("#operations-templates-list_templates")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    expect(operation.locator(".live-responses-table tbody .response-col_status")).to_have_text(
        "200"
    )
    expect(operation.locator(".live-responses-table")).to_contain_text("Offline meme")
    assert page.screenshot_to("swagger").stat().st_size > 0

    sent = [h for url, h in page.request_headers if url.startswith(f"{gateway.base_url}/template")]
    assert sent and all(h.get("x-access-token") == token for h in sent)
    assert page.problems() == []


# The GraphiQL page's sign-in bar (gateway/static/graphiql/start.js).
SIGN_IN_KEY = "gateway:graphiql-sign-in"


def graphql_posts(page: RecordedPage, base_url: str) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """Every POST the page sends to /graphql, as (JSON body, headers), from now on."""
    posts: list[tuple[dict[str, Any], dict[str, str]]] = []

    def record(request: Request) -> None:
        if request.method == "POST" and request.url == f"{base_url}/graphql":
            posts.append((request.post_data_json, request.headers))

    page.on("request", record)
    return posts


def sign_in(page: RecordedPage, username: str, password: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Password").press("Enter")


def run_query(page: RecordedPage) -> Locator:
    page.locator(".graphiql-execute-button").click()
    return page.locator("section.result-window")


def test_graphiql_sign_in_runs_queries_as_that_user_until_sign_out(
    gateway: LiveGateway, page: RecordedPage
) -> None:
    from playwright.sync_api import expect

    posts = graphql_posts(page, gateway.base_url)
    page.goto(f"{gateway.base_url}/graphql")
    expect(page.locator(".graphiql-container")).to_be_visible()
    expect(page.locator(".graphiql-query-editor")).to_contain_text("me { username")
    # Headers typed by hand are sent as typed, but for x-access-token (in any case),
    # which the sign-in's token replaces while signed in.
    typed = '{"x-demo": "kept", "X-Access-Token": "typed-by-hand"}'
    type_headers(page, typed)

    sign_in(page, *USER)
    expect(page.locator("#signed-in")).to_contain_text("Signed in as user until")
    expect(page.get_by_role("status")).to_have_text("Queries now run as user.")
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.get_by_role("button", name="Sign in")).to_be_hidden()
    result = run_query(page)
    expect(result).to_contain_text('"username": "user"')
    expect(result).to_contain_text('"title": "Offline meme"')
    assert page.screenshot_to("graphiql-signed-in").stat().st_size > 0
    editor = page.locator(f"{HEADERS_EDITOR} .CodeMirror")
    assert editor.evaluate("e => e.CodeMirror.getValue()") == typed
    token = page.evaluate(f"JSON.parse(localStorage.getItem('{SIGN_IN_KEY}')).token")
    login, query = posts[-2], posts[-1]
    assert login[0]["operationName"] == "GraphiQLSignIn"
    assert login[1]["x-demo"] == "kept" and login[1]["x-access-token"] == "typed-by-hand"
    assert query[1]["x-demo"] == "kept" and query[1]["x-access-token"] == token

    # Kept across a reload, without logging in again.
    page.reload()
    expect(page.locator("#signed-in")).to_contain_text("Signed in as user")
    expect(run_query(page)).to_contain_text('"username": "user"')
    assert [body.get("operationName") for body, _ in posts].count("GraphiQLSignIn") == 1

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("Signed out.")
    expect(page.get_by_label("Username")).to_be_focused()
    assert page.evaluate(f"localStorage.getItem('{SIGN_IN_KEY}')") is None
    result = run_query(page)
    expect(result).to_contain_text('"code": "UNAUTHENTICATED"')
    expect(result).to_contain_text("User Token is missing!")
    logout, query = posts[-2], posts[-1]
    assert logout[0]["operationName"] == "GraphiQLSignOut"
    assert logout[1]["x-access-token"] == token
    assert "x-access-token" not in query[1]
    # The logout mutation really ran: the server no longer takes the token.
    refused = httpx.get(f"{gateway.base_url}/", headers={"x-access-token": token}, timeout=30)
    assert refused.json() == {"message": "User Token is invalid!"}
    assert page.problems() == []


OUTAGE = {"data": None, "errors": [{"message": "Service unavailable"}]}


def test_graphiql_sign_in_shows_why_it_was_refused(
    gateway: LiveGateway, page: RecordedPage
) -> None:
    from playwright.sync_api import Route, expect

    status = page.get_by_role("status")

    def refused_sign_in(username: str, password: str, message: str) -> None:
        with page.expect_response(f"{gateway.base_url}/graphql"):
            sign_in(page, username, password)
        expect(status).to_have_text(message)
        expect(status).to_have_class("error")
        expect(page.get_by_label("Password")).to_have_value("")
        expect(page.get_by_label("Password")).to_be_focused()

    page.goto(f"{gateway.base_url}/graphql")
    expect(page.locator(".graphiql-container")).to_be_visible()
    refused_sign_in(USER[0], "wrong password", "Could not verify")
    assert page.screenshot_to("graphiql-sign-in-refused").stat().st_size > 0
    for _ in range(4):  # LOGIN_MAX_FAILURES is 5: the sixth try is locked out
        refused_sign_in(USER[0], "wrong password", "Could not verify")
    refused_sign_in(*USER, "Too many login attempts")

    def on_post(answer: Callable[[Route], None]) -> None:
        """From now on the page's POSTs to /graphql get ``answer`` instead of the gateway's."""
        page.unroute(f"{gateway.base_url}/graphql")
        page.route(
            f"{gateway.base_url}/graphql",
            lambda route: answer(route) if route.request.method == "POST" else route.continue_(),
        )

    on_post(lambda route: route.fulfill(status=503, json=OUTAGE))
    refused_sign_in(*ADMIN, "Service unavailable (HTTP 503)")
    on_post(lambda route: route.fulfill(status=502, body="<h1>Bad gateway</h1>"))
    refused_sign_in(*ADMIN, "The gateway answered HTTP 502 Bad Gateway")
    on_post(lambda route: route.abort("connectionrefused"))
    sign_in(page, *ADMIN)
    expect(status).to_have_text("Could not reach the gateway (network error). Try again.")
    page.unroute(f"{gateway.base_url}/graphql")

    type_headers(page, "{")
    sign_in(page, *ADMIN)
    expect(status).to_have_text("The Headers tab must hold a JSON object; fix it or empty it.")
    type_headers(page, "")
    assert page.evaluate(f"localStorage.getItem('{SIGN_IN_KEY}')") is None

    # Signing out while the gateway cannot be reached keeps the token, to try again.
    sign_in(page, *ADMIN)
    expect(page.locator("#signed-in")).to_contain_text("Signed in as admin")
    gateway.stop()
    page.get_by_role("button", name="Sign out").click()
    expect(status).to_have_text(
        "Could not sign out: Could not reach the gateway (network error). Try again."
    )
    expect(page.locator("#signed-in")).to_contain_text("Signed in as admin")
    assert page.evaluate(f"localStorage.getItem('{SIGN_IN_KEY}')") is not None
    # Chromium logs each failed request itself (the page's own code logged nothing).
    failed = "console: Failed to load resource:"
    assert page.problems() == [
        f"{failed} the server responded with a status of 503 (Service Unavailable)",
        f"{failed} the server responded with a status of 502 (Bad Gateway)",
        f"{failed} net::ERR_CONNECTION_REFUSED",
        f"{failed} net::ERR_CONNECTION_REFUSED",
    ]


def unsigned_jwt(claims: dict[str, Any]) -> str:
    """A token shaped like the gateway's, for the page to read its ``exp`` (the server
    would refuse it: the signature is not one)."""
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{payload}.c2lnbmF0dXJl"


def keep_sign_in(page: RecordedPage, token: str, username: str) -> None:
    """What the page stores after signing in, then a reload to read it."""
    entry = json.dumps({"token": token, "username": username})
    page.evaluate("([key, entry]) => localStorage.setItem(key, entry)", [SIGN_IN_KEY, entry])
    page.reload()


def test_graphiql_sign_in_lasts_as_long_as_its_token(
    gateway: LiveGateway, page: RecordedPage
) -> None:
    from playwright.sync_api import expect

    form, signed_in = page.locator("#sign-in-form"), page.locator("#signed-in")
    status = page.get_by_role("status")
    page.goto(f"{gateway.base_url}/graphql")
    expect(page.locator(".graphiql-container")).to_be_visible()

    # base64url: "?>" encodes with "_" or "-" (not plain base64's "/" or "+"), unpadded.
    expired = unsigned_jwt({"sub": "ghost?>", "exp": int(time.time()) - 60})
    payload = expired.split(".")[1]
    assert set(payload) & set("-_") and len(payload) % 4
    keep_sign_in(page, expired, "ghost")
    expect(form).to_be_visible()
    expect(status).to_have_text("Your sign-in expired. Sign in again.")
    assert page.evaluate(f"localStorage.getItem('{SIGN_IN_KEY}')") is None

    keep_sign_in(page, unsigned_jwt({"sub": "ghost?>", "exp": int(time.time()) + 3}), "ghost")
    expect(signed_in).to_contain_text("Signed in as ghost until")
    expect(form).to_be_visible(timeout=10_000)  # the page drops it when it expires
    expect(status).to_have_text("Your sign-in expired. Sign in again.")

    # Without `exp` a token does not expire; the server refusing it ends the sign-in.
    keep_sign_in(page, unsigned_jwt({"sub": "ghost?>"}), "ghost")
    expect(signed_in).to_have_text("Signed in as ghost Sign out")
    expect(run_query(page)).to_contain_text("User Token is invalid!")
    expect(status).to_have_text("Your sign-in ended (User Token is invalid!). Sign in again.")
    expect(form).to_be_visible()

    # Every tab of the browser shares one sign-in.
    other = page.context.new_page()
    other.goto(f"{gateway.base_url}/graphql")
    sign_in(page, *USER)
    expect(other.locator("#signed-in")).to_contain_text("Signed in as user until")
    page.get_by_role("button", name="Sign out").click()
    expect(other.locator("#sign-in-form")).to_be_visible()
    expect(other.get_by_role("status")).to_have_text("Signed out in another tab.")
    assert page.problems() == []


def register_app(database_url: str) -> str:
    """A registered application's token (``gateway apps add``, in process)."""

    async def add() -> str:
        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            async with AsyncSession(engine) as session:
                _, token = await apps.add_app(session, name="graphiql")
                return token
        finally:
            await engine.dispose()

    return asyncio.run(add())


def test_graphiql_sign_in_sends_the_application_token_typed_in_headers(tmp_path: Path) -> None:
    """With APP_TOKENS_REQUIRED the login needs ``x-application-token`` too: the one the
    user typed in the Headers tab goes with it."""
    from playwright.sync_api import expect

    require_browser()
    url = f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
    prepare_database(url)
    app_token = register_app(url)
    with (
        LiveGateway(url, tmp_path, APP_TOKENS_REQUIRED="true") as gw,
        open_page(gw.base_url, tmp_path) as page,
    ):
        status = page.get_by_role("status")
        page.goto(f"{gw.base_url}/graphql")
        expect(page.locator(".graphiql-container")).to_be_visible()
        sign_in(page, *ADMIN)
        expect(status).to_have_text("App Token is missing! (HTTP 401)")

        type_headers(page, json.dumps({"x-application-token": app_token}))
        sign_in(page, *ADMIN)
        expect(page.locator("#signed-in")).to_contain_text("Signed in as admin")
        expect(run_query(page)).to_contain_text('"username": "admin"')
        page.get_by_role("button", name="Sign out").click()
        expect(status).to_have_text("Signed out.")
        # Chromium's own lines for the 401s: GraphiQL's schema fetch at load (it tries
        # twice) and the sign-in without the application token.
        unauthorized = "console: Failed to load resource: the server responded with a status of 401"
        assert page.problems() == [f"{unauthorized} (Unauthorized)"] * 3
