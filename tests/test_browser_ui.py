"""GraphiQL and Swagger UI in a real headless Chromium against a real uvicorn, offline."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.browser import RecordedPage, open_page, require_browser
from tests.live import ADMIN, USER, LiveGateway, prepare_database

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


def test_graphiql_runs_a_query_with_the_token_from_the_headers_tab(
    gateway: LiveGateway, page: RecordedPage
) -> None:
    from playwright.sync_api import expect

    token = gateway.token(*USER)
    page.goto(f"{gateway.base_url}/graphql")
    expect(page.locator(".graphiql-container")).to_be_visible()

    replace_editor_text(page, ".graphiql-query-editor", FEED_QUERY)
    page.get_by_role("button", name="Headers", exact=True).click()
    replace_editor_text(
        page,
        "section[aria-label=Headers] .graphiql-editor:not(.hidden)",
        json.dumps({"x-access-token": token}),
    )
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
