"""REST template routes (SPEC §5): create, list, feed, get, update, delete, paging."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from gateway.db.models import MemeTemplate
from tests.support.actions import Actions

TEMPLATE_KEYS = {"id", "title", "url", "description", "username", "user_id", "posted", "approved"}
HTTP_DATE = re.compile(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")
NO_TEMPLATE = {"message": "No template found!"}
NOT_OWNER = {"message": "Unauthorized edit attempt"}
APPROVED_POST = {"message": "Unauthorized edit to approved post"}
BODY = {"title": "Drake", "url": "https://i.imgflip.com/30b1gx.jpg", "description": "hotline"}


def titles(response: Any) -> list[str]:
    return [t["title"] for t in response.json()["templates"]]


@pytest.mark.parametrize("encoding", ["form", "json"])
async def test_create_template(act: Actions, encoding: str) -> None:
    alice = await act.user_headers("alice")
    kwargs: dict[str, Any] = {"data": BODY} if encoding == "form" else {"json": BODY}
    before = datetime.now(UTC).replace(microsecond=0)
    response = await act.client.post("/template", headers=alice, **kwargs)
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Post created"
    template = response.json()["template"]
    assert set(template) == TEMPLATE_KEYS
    assert template["title"] == "Drake"
    assert template["url"] == BODY["url"]
    assert template["description"] == "hotline"
    assert template["username"] == template["user_id"] == "alice"
    assert template["approved"] is False
    assert HTTP_DATE.fullmatch(template["posted"]), template["posted"]
    assert parsedate_to_datetime(template["posted"]) >= before
    [row] = await act.templates()
    assert row.id == template["id"] and row.title == "Drake" and row.approved is False
    assert row.user_id == (await act.users())[0].id


async def test_admin_templates_start_approved(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    template = await act.create_template(admin, "By admin")
    assert template["approved"] is True
    assert [t.approved for t in await act.templates()] == [True]


async def test_description_is_optional(act: Actions) -> None:
    alice = await act.user_headers("alice")
    body = {"title": "t", "url": "http://example.com/x.png"}
    response = await act.client.post("/template", json=body, headers=alice)
    assert response.json()["template"]["description"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Non nullable items are empty"),
        ({"title": "t"}, "Non nullable items are empty"),
        ({"url": "https://x.com/a.png"}, "Non nullable items are empty"),
        ({"title": "", "url": "https://x.com/a.png"}, "Non nullable items are empty"),
        ({"title": "t", "url": "javascript:alert(1)"}, None),
        ({"title": "t", "url": "data:text/html,<b>x</b>"}, None),
        ({"title": "t", "url": "ftp://x.com/a.png"}, None),
        ({"title": "t", "url": "not a url"}, None),
        ({"title": "t" * 4097, "url": "https://x.com/a.png"}, None),
        ({"title": "t", "url": "https://x.com/a.png", "description": "d" * 4097}, None),
    ],
    ids=["empty", "no-url", "no-title", "blank-title", "javascript", "data", "ftp",
         "spaces", "long-title", "long-description"],
)
async def test_create_template_bad_fields_are_400(
    act: Actions, body: dict[str, str], message: str | None
) -> None:
    alice = await act.user_headers("alice")
    response = await act.client.post("/template", data=body, headers=alice)
    assert response.status_code == 400, response.text
    if message:
        assert response.json() == {"message": message}
    else:
        assert isinstance(response.json()["message"], str)
    assert await act.templates() == []


async def test_list_all_and_feed(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    alice = await act.user_headers("alice")
    bob = await act.user_headers("bob")
    await act.create_template(admin, "approved-1")
    await act.create_template(alice, "alice-own")
    await act.create_template(bob, "bob-own")
    await act.create_template(admin, "approved-2")

    every = await act.client.get("/template", headers=alice)
    assert every.status_code == 200
    assert titles(every) == ["approved-1", "alice-own", "bob-own", "approved-2"]
    assert every.headers["x-total-count"] == "4"
    for template in every.json()["templates"]:
        assert set(template) == TEMPLATE_KEYS

    feed = await act.client.get("/", headers=alice)
    assert titles(feed) == ["approved-1", "alice-own", "approved-2"]
    assert feed.headers["x-total-count"] == "3"
    feed = await act.client.get("/", headers=bob)
    assert titles(feed) == ["approved-1", "bob-own", "approved-2"]
    feed = await act.client.get("/", headers=admin)
    assert titles(feed) == ["approved-1", "approved-2"]


async def test_template_filters(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    alice = await act.user_headers("alice")
    await act.create_template(admin, "a1")
    await act.create_template(alice, "u1")
    await act.create_template(alice, "u2")
    cases = [
        ({"approved": "true"}, ["a1"]),
        ({"approved": "false"}, ["u1", "u2"]),
        ({"username": "alice"}, ["u1", "u2"]),
        ({"username": "admin"}, ["a1"]),
        ({"username": "nobody"}, []),
        ({"username": "alice", "approved": "true"}, []),
        ({"username": "alice", "limit": "1", "offset": "1"}, ["u2"]),
    ]
    for params, expected in cases:
        response = await act.client.get("/template", params=params, headers=alice)
        assert response.status_code == 200, params
        assert titles(response) == expected, params
    response = await act.client.get("/template", params={"approved": "maybe"}, headers=alice)
    assert response.status_code == 400


async def test_paging_headers_and_bounds(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    for n in range(5):
        await act.create_template(admin, f"t{n}")
    response = await act.client.get("/template", params={"limit": 2}, headers=admin)
    assert titles(response) == ["t0", "t1"]
    assert response.headers["x-total-count"] == "5"
    seen = titles(response)
    while "link" in response.headers:
        link = response.headers["link"]
        assert re.fullmatch(r'<http://gateway\.test/template\?[^>]+>; rel="next"', link), link
        response = await act.client.get(link[1 : link.index(">")], headers=admin)
        seen += titles(response)
    assert seen == ["t0", "t1", "t2", "t3", "t4"]
    response = await act.client.get("/", params={"offset": 4}, headers=admin)
    assert titles(response) == ["t4"]
    response = await act.client.get("/", params={"offset": 9}, headers=admin)
    assert titles(response) == []
    assert response.headers["x-total-count"] == "5"
    for path in ("/", "/template", "/user"):
        for params in ({"limit": 0}, {"limit": 1001}, {"limit": -1}, {"offset": -1},
                       {"limit": "ten"}, {"offset": "1e3"}):
            response = await act.client.get(path, params=params, headers=admin)
            assert response.status_code == 400, (path, params)
            assert isinstance(response.json()["message"], str)
        response = await act.client.get(path, params={"limit": 1000}, headers=admin)
        assert response.status_code == 200


async def test_default_limit_is_100(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    async with act.session() as session:
        user_id = (await act.users())[0].id
        session.add_all(
            MemeTemplate(title=f"t{n}", url="https://x.com/a.png", user_id=user_id, approved=True)
            for n in range(105)
        )
        await session.commit()
    response = await act.client.get("/", headers=admin)
    assert len(response.json()["templates"]) == 100
    assert response.headers["x-total-count"] == "105"
    assert "offset=100" in response.headers["link"]
    response = await act.client.get("/template", params={"limit": 1000}, headers=admin)
    assert len(response.json()["templates"]) == 105
    ids = [t["id"] for t in response.json()["templates"]]
    assert ids == sorted(ids)


async def test_get_template(act: Actions) -> None:
    alice = await act.user_headers("alice")
    bob = await act.user_headers("bob")
    made = await act.create_template(alice, "mine")
    response = await act.client.get(f"/template/{made['id']}", headers=bob)
    assert response.status_code == 200
    assert response.json() == {"template": made}
    for template_id in (made["id"] + 1, 0, 2**31, 10**30):
        response = await act.client.get(f"/template/{template_id}", headers=bob)
        assert (response.status_code, response.json()) == (404, NO_TEMPLATE), template_id


async def test_posted_is_the_stored_time_as_an_http_date(act: Actions) -> None:
    alice = await act.user_headers("alice")
    made = await act.create_template(alice, "dated")
    async with act.session() as session:
        row = await session.get(MemeTemplate, made["id"])
        assert row is not None
        row.posted = datetime(2020, 10, 12, 4, 51, 27, tzinfo=UTC)
        await session.commit()
    response = await act.client.get(f"/template/{made['id']}", headers=alice)
    assert response.json()["template"]["posted"] == "Mon, 12 Oct 2020 04:51:27 GMT"


UPDATE = {"title": "New title", "url": "https://example.com/new.png", "description": "new"}


@pytest.mark.parametrize("encoding", ["form", "json"])
async def test_owner_updates_unapproved(act: Actions, encoding: str) -> None:
    alice = await act.user_headers("alice")
    made = await act.create_template(alice, "old")
    kwargs: dict[str, Any] = {"data": UPDATE} if encoding == "form" else {"json": UPDATE}
    response = await act.client.put(f"/template/{made['id']}", headers=alice, **kwargs)
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Post Updated"
    template = response.json()["template"]
    assert set(template) == TEMPLATE_KEYS
    assert (template["title"], template["url"], template["description"]) == (
        "New title", "https://example.com/new.png", "new")
    assert template["approved"] is False
    assert template["username"] == template["user_id"] == "alice"
    assert template["posted"] == made["posted"]
    [row] = await act.templates()
    assert (row.title, row.url, row.description, row.approved) == (
        "New title", "https://example.com/new.png", "new", False)


async def test_update_and_delete_rules(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    alice = await act.user_headers("alice")
    bob = await act.user_headers("bob")
    draft = await act.create_template(alice, "draft")
    approved = await act.create_template(alice, "to approve")

    # Non-owner: refused for both.
    for method, kwargs in (("PUT", {"data": UPDATE}), ("DELETE", {})):
        response = await act.client.request(
            method, f"/template/{draft['id']}", headers=bob, **kwargs
        )
        assert (response.status_code, response.json()) == (403, NOT_OWNER), method

    # Admin edit approves, and keeps the owner.
    response = await act.client.put(f"/template/{approved['id']}", data=UPDATE, headers=admin)
    assert response.status_code == 200
    assert response.json()["template"]["approved"] is True
    assert response.json()["template"]["username"] == "alice"

    # Owner of an approved post: refused for both.
    for method, kwargs in (("PUT", {"data": UPDATE}), ("DELETE", {})):
        response = await act.client.request(
            method, f"/template/{approved['id']}", headers=alice, **kwargs
        )
        assert (response.status_code, response.json()) == (403, APPROVED_POST), method
    # A non-owner of an approved post is told it is not theirs.
    response = await act.client.put(f"/template/{approved['id']}", data=UPDATE, headers=bob)
    assert (response.status_code, response.json()) == (403, NOT_OWNER)

    rows = {t.id: (t.title, t.approved) for t in await act.templates()}
    assert rows == {draft["id"]: ("draft", False), approved["id"]: ("New title", True)}

    # Owner deletes an unapproved post; admin deletes an approved one.
    response = await act.client.delete(f"/template/{draft['id']}", headers=alice)
    assert (response.status_code, response.json()) == (
        200, {"message": "The post has been deleted"})
    response = await act.client.delete(f"/template/{approved['id']}", headers=admin)
    assert response.status_code == 200
    assert await act.templates() == []

    for method, kwargs in (("GET", {}), ("PUT", {"data": UPDATE}), ("DELETE", {})):
        response = await act.client.request(
            method, f"/template/{draft['id']}", headers=admin, **kwargs
        )
        assert (response.status_code, response.json()) == (404, NO_TEMPLATE), method


async def test_update_with_bad_fields_is_400_and_changes_nothing(act: Actions) -> None:
    alice = await act.user_headers("alice")
    made = await act.create_template(alice, "kept")
    for body in ({}, {"title": "x"}, {"title": "x", "url": "javascript:alert(1)"}):
        response = await act.client.put(f"/template/{made['id']}", data=body, headers=alice)
        assert response.status_code == 400, body
    [row] = await act.templates()
    assert row.title == "kept"


async def test_deleted_owner_reads_as_null(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    bob = await act.create_user("bob")
    bob_headers = await act.login("bob")
    made = await act.create_template(bob_headers, "orphan")
    await act.client.delete(f"/user/{bob.public_id}", headers=admin)
    for path in ("/template", f"/template/{made['id']}"):
        response = await act.client.get(path, headers=admin)
        body = response.json()
        template = body["template"] if "template" in body else body["templates"][0]
        assert template["username"] is None and template["user_id"] is None
    # Nobody owns it now: only an admin may change it.
    response = await act.client.put(f"/template/{made['id']}", data=UPDATE, headers=admin)
    assert response.status_code == 200
    assert response.json()["template"]["username"] is None


async def test_filters_and_paging_happen_in_sql(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    for n in range(3):
        await act.create_template(admin, f"t{n}")
    query = {"approved": "true", "username": "admin", "limit": 2, "offset": 1}
    with act.app.state.database.statements() as sent:
        response = await act.client.get("/template", params=query, headers=admin)
    assert titles(response) == ["t1", "t2"]
    assert response.headers["x-total-count"] == "3"
    # One statement: the caller's row and the filtered page; a page that is not full
    # tells the total itself.
    [listing] = [" ".join(s.split()).lower() for s in sent]
    assert "meme_template.approved" in listing and "username" in listing
    assert " order by meme_template.id" in listing
    assert " limit " in listing  # MySQL spells the offset "limit ?, ?"

    with act.app.state.database.statements() as sent:
        response = await act.client.get("/template", params=query | {"offset": 0},
                                        headers=admin)
    assert titles(response) == ["t0", "t1"]
    assert response.headers["x-total-count"] == "3"
    # A full page: the rows, then the count of every match, in SQL with the same filters.
    listing, counting = (" ".join(s.split()).lower() for s in sent)
    assert " limit " in listing and "count(" not in listing
    assert "count(meme_template.id)" in counting
    assert "meme_template.approved" in counting and "username" in counting


ANY_TEXT = ["abc", "-1", "0", "1.5", "0x10", "%20", "1e3", str(2**31), "9" * 40, "%00", "%FF"]


@pytest.mark.parametrize("template_id", ANY_TEXT)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_any_template_path_answers_the_originals_404(
    act: Actions, method: str, template_id: str
) -> None:
    """The original routed ``/template/<any string>``: what is no template's id is its
    ``No template found!``, after the token check, never the generic ``Not found``."""
    alice = await act.user_headers("alice")
    await act.create_template(alice, "kept")
    body = {"data": BODY} if method == "PUT" else {}

    signed_in = await act.client.request(
        method, f"/template/{template_id}", headers=alice, **body
    )
    anonymous = await act.client.request(method, f"/template/{template_id}", **body)

    assert (signed_in.status_code, signed_in.json()) == (404, NO_TEMPLATE)
    assert (anonymous.status_code, anonymous.json()) == (401, {"message": "User Token is missing!"})
    assert [t.title for t in await act.templates()] == ["kept"]


async def test_put_checks_its_fields_before_the_template_as_the_original(act: Actions) -> None:
    alice = await act.user_headers("alice")

    missing_fields = await act.client.put("/template/abc", data={"title": "t"}, headers=alice)
    missing_template = await act.client.put("/template/abc", data=BODY, headers=alice)
    delete_ignores_body = await act.client.request(
        "DELETE", "/template/abc", content=b"{not json", headers=alice
    )

    assert (missing_fields.status_code, missing_fields.json()) == (
        400, {"message": "Non nullable items are empty"}
    )
    assert (missing_template.status_code, missing_template.json()) == (404, NO_TEMPLATE)
    assert (delete_ignores_body.status_code, delete_ignores_body.json()) == (404, NO_TEMPLATE)


CREATE = "mutation($url: String!) { createTemplate(title: \"t\", url: $url) { url } }"


@pytest.mark.parametrize("url", ["http:/", "http://", "http:", "https:///", "HTTP:/", "http:/?a=1",
                                 "http://#top", "https:////"])
async def test_a_url_that_names_nothing_is_400_on_both_doors(act: Actions, url: str) -> None:
    alice = await act.user_headers("alice")

    rest = await act.client.post("/template", data={"title": "t", "url": url}, headers=alice)
    graphql = await act.graphql(CREATE, alice, url=url)

    assert (rest.status_code, rest.json()) == (400, {"message": "url must be an http or https URL"})
    assert graphql["errors"][0]["message"] == "url must be an http or https URL"
    assert await act.templates() == []


@pytest.mark.parametrize("url", ["http:/test.com", "http://x", "https://example.com/",
                                 "http:/a/", "https://[::1]:8080"])
async def test_a_url_with_a_host_or_a_path_is_kept(act: Actions, url: str) -> None:
    alice = await act.user_headers("alice")
    response = await act.client.post("/template", data={"title": "t", "url": url}, headers=alice)
    assert response.status_code == 200, response.text
    assert response.json()["template"]["url"] == url
