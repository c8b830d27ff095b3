"""Tokens the original Flask app issued keep working until LEGACY_TOKENS_UNTIL, then stop."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette

from gateway.db.models import User
from gateway.services.users import insert_user, passwords_for
from gateway.settings import Settings, SettingsError
from tests.conftest import FIXTURES, TEST_SECRET, MakeApp
from tests.support.actions import Actions, actions_for

ORIGINAL = json.loads((FIXTURES / "original-tokens.json").read_text())
ROWS = json.loads((FIXTURES / "rows.json").read_text())
ORIGINAL_KEY: str = ORIGINAL["secret_key"]
GOOD = [t for t in ORIGINAL["tokens"] if "note" not in t]
UNKNOWN_USER = next(t["token"] for t in ORIGINAL["tokens"] if t.get("note") == "no such user")
OTHER_KEY = next(t["token"] for t in ORIGINAL["tokens"] if "another key" in t.get("note", ""))
FUTURE = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
PAST = datetime.now(UTC) - timedelta(seconds=1)
FEED_QUERY = "{ me { username admin } feed(limit: 10) { title } }"


def original_token(username: str) -> str:
    return str(next(t["token"] for t in GOOD if t["username"] == username))


async def seed_original_users(app: Starlette) -> None:
    """The original's users, with the public ids its tokens name."""
    hashing = passwords_for(app.state.settings)
    async with app.state.sessions() as session:
        for row in ROWS["users"]:
            user = User(
                public_id=row["public_id"],
                username=row["username"],
                password=await hashing.hash(row["password"]),
                admin=bool(row["admin"]),
            )
            await insert_user(session, user)


async def legacy_app(make_app: MakeApp, **changes: Any) -> Starlette:
    """An app with a strong SECRET_KEY for its own tokens and the original's key kept
    as LEGACY_SECRET_KEY (the production set-up), on a database holding its users."""
    settings = {"legacy_secret_key": ORIGINAL_KEY, "legacy_tokens_until": FUTURE} | changes
    app = await make_app(**settings)
    await seed_original_users(app)
    return app


def assert_deprecated(response: httpx.Response) -> None:
    assert re.fullmatch(r"@\d+", response.headers["deprecation"]), response.headers
    deprecated_since = int(response.headers["deprecation"][1:])
    assert deprecated_since <= FUTURE.timestamp()
    assert response.headers["sunset"] == format_datetime(FUTURE, usegmt=True)


def assert_token_invalid(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"message": "User Token is invalid!"}
    assert "deprecation" not in response.headers
    assert "sunset" not in response.headers


async def graphql(act: Actions, query: str, token: str) -> httpx.Response:
    return await act.client.post(
        "/graphql", json={"query": query}, headers={"x-access-token": token}
    )


# --- accepted until the sunset -----------------------------------------------------


@pytest.mark.parametrize("who", [t["username"] for t in GOOD])
async def test_original_token_reads_the_feed_with_deprecation_headers(
    make_app: MakeApp, who: str
) -> None:
    async with actions_for(await legacy_app(make_app)) as act:
        response = await act.client.get("/", headers={"x-access-token": original_token(who)})
    assert response.status_code == 200, response.text
    assert "templates" in response.json()
    assert_deprecated(response)


@pytest.mark.parametrize("who", [t["username"] for t in GOOD])
async def test_original_token_works_on_graphql_with_deprecation_headers(
    make_app: MakeApp, who: str
) -> None:
    async with actions_for(await legacy_app(make_app)) as act:
        response = await graphql(act, FEED_QUERY, original_token(who))
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    assert body["data"]["me"]["username"] == who
    assert_deprecated(response)


async def test_original_token_keeps_the_users_rights(make_app: MakeApp) -> None:
    async with actions_for(await legacy_app(make_app)) as act:
        as_admin = await act.client.get(
            "/user", headers={"x-access-token": original_token("admin")}
        )
        as_alice = await act.client.get(
            "/user", headers={"Authorization": f"Bearer {original_token('alice')}"}
        )
        created = await act.client.post(
            "/template",
            data={"title": "From an old client", "url": "https://example.com/old.png"},
            headers={"x-access-token": original_token("alice")},
        )
    assert as_admin.status_code == 200, as_admin.text
    assert {u["username"] for u in as_admin.json()["users"]} == {"admin", "alice", "bob", "carol"}
    assert_deprecated(as_admin)
    # Signed in, but not allowed: still a response to a legacy-token request.
    assert as_alice.status_code == 403
    assert as_alice.json() == {"message": "Cannot perform that function!"}
    assert_deprecated(as_alice)
    assert created.status_code == 200, created.text
    assert created.json()["template"]["username"] == "alice"
    assert_deprecated(created)


async def test_new_tokens_carry_no_deprecation_headers(make_app: MakeApp) -> None:
    async with actions_for(await legacy_app(make_app)) as act:
        headers = await act.login("alice", "alice-pass-1")
        response = await act.client.get("/", headers=headers)
        login = await act.client.get("/login", auth=("alice", "alice-pass-1"))
    assert response.status_code == 200
    assert "deprecation" not in response.headers and "sunset" not in response.headers
    assert "deprecation" not in login.headers


# PyJWT warns about the short key at every use of SECRET_KEY; at run time that is a log line.
@pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")
async def test_the_original_key_as_secret_key_works_too(make_app: MakeApp) -> None:
    """Outside production an operator may simply keep the original SECRET_KEY."""
    app = await make_app(secret_key=ORIGINAL_KEY, legacy_tokens_until=FUTURE)
    await seed_original_users(app)
    async with actions_for(app) as act:
        response = await act.client.get("/", headers={"x-access-token": original_token("bob")})
    assert response.status_code == 200, response.text
    assert_deprecated(response)


# --- refused -----------------------------------------------------------------------


async def test_refused_after_the_sunset(make_app: MakeApp) -> None:
    async with actions_for(await legacy_app(make_app, legacy_tokens_until=PAST)) as act:
        rest = await act.client.get("/", headers={"x-access-token": original_token("alice")})
        gql = await graphql(act, FEED_QUERY, original_token("alice"))
    assert_token_invalid(rest)
    assert "deprecation" not in gql.headers
    assert gql.json()["data"] is None
    [error] = gql.json()["errors"]
    assert error["message"] == "User Token is invalid!"
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_token_that_worked_is_refused_where_legacy_tokens_are_off(
    make_app: MakeApp,
) -> None:
    # Verified tokens are remembered per process; whether the original's are still
    # accepted is decided again on every request.
    token = {"x-access-token": original_token("alice")}
    async with actions_for(await legacy_app(make_app)) as act:
        assert (await act.client.get("/", headers=token)).status_code == 200
    off = await make_app(legacy_secret_key=ORIGINAL_KEY, legacy_tokens_until=None)
    async with actions_for(off) as act:
        assert_token_invalid(await act.client.get("/", headers=token))


async def test_refused_when_legacy_tokens_are_off(make_app: MakeApp) -> None:
    async with actions_for(await legacy_app(make_app, legacy_tokens_until=None)) as act:
        for who in ("admin", "alice"):
            response = await act.client.get("/", headers={"x-access-token": original_token(who)})
            assert_token_invalid(response)


@pytest.mark.parametrize("token", [UNKNOWN_USER, OTHER_KEY], ids=["unknown user", "other key"])
async def test_refused_for_an_unknown_user_or_another_key(make_app: MakeApp, token: str) -> None:
    async with actions_for(await legacy_app(make_app)) as act:
        assert_token_invalid(await act.client.get("/", headers={"x-access-token": token}))
        gql = await graphql(act, "{ me { username } }", token)
    assert gql.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "deprecation" not in gql.headers


async def test_refused_after_that_users_logout(make_app: MakeApp) -> None:
    async with actions_for(await legacy_app(make_app)) as act:
        old = {"x-access-token": original_token("alice")}
        logout = await act.client.post("/logout", headers=old)
        after = await act.client.get("/", headers=old)
        others = await act.client.get("/", headers={"x-access-token": original_token("bob")})
        fresh = await act.login("alice", "alice-pass-1")
        fresh_feed = await act.client.get("/", headers=fresh)
    assert logout.status_code == 200, logout.text
    assert_deprecated(logout)
    assert_token_invalid(after)
    assert others.status_code == 200  # one user's logout ends only that user's tokens
    assert fresh_feed.status_code == 200


async def test_a_logout_with_a_new_token_ends_the_old_one_too(make_app: MakeApp) -> None:
    async with actions_for(await legacy_app(make_app)) as act:
        fresh = await act.login("carol", "carol-pass-1")
        assert (await act.client.post("/logout", headers=fresh)).status_code == 200
        response = await act.client.get("/", headers={"x-access-token": original_token("carol")})
    assert_token_invalid(response)


def forged(claims: dict[str, Any], key: str, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode({"public_id": ROWS["users"][1]["public_id"]}, None, algorithm="none"),
        # With LEGACY_SECRET_KEY set, SECRET_KEY signs only gateway tokens (with `ver`).
        forged({"public_id": ROWS["users"][1]["public_id"]}, TEST_SECRET),
        "not.a.token",
    ],
    ids=["alg none", "legacy shape, new key", "garbage"],
)
async def test_only_the_originals_exact_shape_and_key_pass(make_app: MakeApp, token: str) -> None:
    async with actions_for(await legacy_app(make_app)) as act:
        assert_token_invalid(await act.client.get("/", headers={"x-access-token": token}))


@pytest.mark.parametrize(
    "extra",
    [{"admin": True}, {"exp": int((datetime.now(UTC) + timedelta(days=1)).timestamp())}],
    ids=["admin claim", "exp claim"],
)
async def test_a_token_with_more_claims_than_the_originals_is_refused(
    make_app: MakeApp, extra: dict[str, Any]
) -> None:
    key = "another-legacy-key-of-at-least-32-bytes"
    token = forged({"public_id": ROWS["users"][1]["public_id"]} | extra, key)
    async with actions_for(await legacy_app(make_app, legacy_secret_key=key)) as act:
        assert_token_invalid(await act.client.get("/", headers={"x-access-token": token}))
        plain = forged({"public_id": ROWS["users"][1]["public_id"]}, key)
        assert (await act.client.get("/", headers={"x-access-token": plain})).status_code == 200


# --- settings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2027-01-31", datetime(2027, 1, 31, tzinfo=UTC)),
        ("2027-01-31T12:30:00", datetime(2027, 1, 31, 12, 30, tzinfo=UTC)),
        ("2027-01-31T12:30:00Z", datetime(2027, 1, 31, 12, 30, tzinfo=UTC)),
        ("2027-01-31T14:30:00+02:00", datetime(2027, 1, 31, 12, 30, tzinfo=UTC)),
        ("", None),
    ],
)
def test_legacy_tokens_until_reads_a_date_or_a_moment(raw: str, expected: datetime | None) -> None:
    settings = Settings.from_env({"LEGACY_TOKENS_UNTIL": raw, "SECRET_KEY": "k" * 32}, None)
    assert settings.legacy_tokens_until == expected


@pytest.mark.parametrize("raw", ["tomorrow", "2027-13-01", "31/01/2027", "2027-01-31T25:00"])
def test_a_bad_legacy_tokens_until_is_one_line_naming_it(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"LEGACY_TOKENS_UNTIL": raw, "SECRET_KEY": "k" * 32}, None)
    message = str(caught.value)
    assert message.startswith("LEGACY_TOKENS_UNTIL: ")
    assert "\n" not in message and repr(raw) in message


def test_production_keeps_a_short_original_key_as_legacy_secret_key() -> None:
    environ = {
        "GATEWAY_ENV": "production",
        "SECRET_KEY": "s" * 32,
        "LEGACY_SECRET_KEY": ORIGINAL_KEY,
        "LEGACY_TOKENS_UNTIL": "2030-01-01",
    }
    settings = Settings.from_env(environ, None)
    assert settings.legacy_secret_key == ORIGINAL_KEY
    with pytest.raises(SettingsError, match="^SECRET_KEY: "):
        Settings.from_env(environ | {"SECRET_KEY": ORIGINAL_KEY}, None)
