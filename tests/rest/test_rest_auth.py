"""REST auth (SPEC §4) through HTTP: login, user tokens, logout, application tokens."""

from __future__ import annotations

import asyncio
import base64
import time
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from passlib.context import CryptContext

from gateway.auth.tokens import issue_access_token
from gateway.db.reads import EngineReader
from gateway.services import apps
from tests.conftest import TEST_SECRET, MakeApp
from tests.support.actions import Actions, actions_for

CHALLENGE = 'Basic realm="Login required!"'


def assert_could_not_verify(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"message": "Could not verify"}
    assert response.headers["www-authenticate"] == CHALLENGE


def assert_token_invalid(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"message": "User Token is invalid!"}


def basic(username: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


# --- login -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "how",
    ["GET basic", "POST basic", "POST form", "POST json"],
)
async def test_login_every_way_gives_a_working_token(act: Actions, how: str) -> None:
    user = await act.create_user("alice")
    method, kind = how.split()
    credentials = {"username": "alice", "password": "alice-password"}
    if kind == "basic":
        response = await act.client.request(
            method, "/login", headers=basic("alice", "alice-password")
        )
    elif kind == "form":
        response = await act.client.post("/login", data=credentials)
    else:
        response = await act.client.post("/login", json=credentials)
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    claims = jwt.decode(token, TEST_SECRET, algorithms=["HS256"])
    assert claims["public_id"] == claims["sub"] == user.public_id
    assert claims["ver"] == 0
    assert claims["exp"] - claims["iat"] == 86400
    feed = await act.client.get("/", headers={"x-access-token": token})
    assert feed.status_code == 200


@pytest.mark.parametrize(
    "request_kwargs",
    [
        pytest.param({"method": "GET", "headers": basic("alice", "wrong-password")}, id="wrong"),
        pytest.param({"method": "GET", "headers": basic("nobody", "alice-password")}, id="unknown"),
        pytest.param({"method": "GET"}, id="GET-missing"),
        pytest.param({"method": "POST"}, id="POST-missing"),
        pytest.param({"method": "GET", "headers": basic("alice", "")}, id="empty-password"),
        pytest.param({"method": "GET", "headers": basic("", "x")}, id="empty-username"),
        pytest.param(
            {"method": "POST", "json": {"username": "alice", "password": "nope-nope"}},
            id="json-wrong",
        ),
        pytest.param(
            {"method": "POST", "data": {"username": "nobody", "password": "nope-nope"}},
            id="form-unknown",
        ),
        pytest.param({"method": "POST", "json": {"username": "alice"}}, id="json-no-password"),
        pytest.param(
            {"method": "GET", "headers": {"Authorization": "Basic %%%garbage%%%"}},
            id="garbage-base64",
        ),
        pytest.param(
            {"method": "GET", "headers": {"Authorization": "Basic " + base64.b64encode(
                b"no-colon").decode()}},
            id="no-colon",
        ),
    ],
)
async def test_login_failures_are_all_could_not_verify(
    act: Actions, request_kwargs: dict[str, Any]
) -> None:
    await act.create_user("alice")
    kwargs = dict(request_kwargs)
    method = kwargs.pop("method")
    response = await act.client.request(method, "/login", **kwargs)
    assert_could_not_verify(response)


# --- user tokens -----------------------------------------------------------------


async def test_token_in_authorization_bearer(act: Actions) -> None:
    headers = await act.user_headers("alice")
    bearer = {"Authorization": f"Bearer {headers['x-access-token']}"}
    response = await act.client.get("/", headers=bearer)
    assert response.status_code == 200


async def test_token_missing(act: Actions) -> None:
    for path in ("/", "/template", "/user", "/template/1"):
        response = await act.client.get(path)
        assert response.status_code == 401, path
        assert response.json() == {"message": "User Token is missing!"}
    response = await act.client.post("/logout")
    assert response.json() == {"message": "User Token is missing!"}


async def test_forged_tokens_are_invalid(act: Actions) -> None:
    user = await act.create_user("alice", admin=True)
    claims = {"public_id": user.public_id, "sub": user.public_id, "ver": 0}
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(
        f'{{"public_id":"{user.public_id}","ver":0}}'.encode()
    ).rstrip(b"=").decode()
    forged = {
        "alg none": f"{header}.{payload}.",
        "other key": jwt.encode(claims, "another-secret-key-of-sufficient-length!", "HS256"),
        "garbage": "not-a-jwt",
        "unknown user": jwt.encode(
            {"public_id": "00000000-dead-beef-0000-000000000000", "ver": 0}, TEST_SECRET
        ),
        "no ver (original shape)": jwt.encode({"public_id": user.public_id}, TEST_SECRET),
        "stale ver": jwt.encode({"public_id": user.public_id, "ver": 7}, TEST_SECRET),
        "ver not int": jwt.encode({"public_id": user.public_id, "ver": "0"}, TEST_SECRET),
    }
    with warnings.catch_warnings():  # the short-key warning is the point of this forgery
        warnings.simplefilter("ignore")
        forged["HS512, same key"] = jwt.encode(claims, TEST_SECRET, "HS512")
    for name, token in forged.items():
        for headers in ({"x-access-token": token}, {"Authorization": f"Bearer {token}"}):
            response = await act.client.get("/user", headers=headers)
            assert response.status_code == 401, name
            assert response.json() == {"message": "User Token is invalid!"}, name


async def test_expired_token_is_invalid(act: Actions) -> None:
    user = await act.create_user("alice")
    old = issue_access_token(
        secret=TEST_SECRET,
        public_id=user.public_id,
        version=0,
        ttl_seconds=60,
        now=datetime.now(UTC) - timedelta(minutes=5),
    )
    assert_token_invalid(await act.client.get("/", headers={"x-access-token": old}))
    fresh = issue_access_token(
        secret=TEST_SECRET, public_id=user.public_id, version=0, ttl_seconds=60
    )
    assert (await act.client.get("/", headers={"x-access-token": fresh})).status_code == 200


async def test_a_token_that_worked_is_refused_once_it_expires(act: Actions) -> None:
    # A verified token is remembered between requests; its expiry is still checked.
    user = await act.create_user("alice")
    expiring = issue_access_token(
        secret=TEST_SECRET,
        public_id=user.public_id,
        version=0,
        ttl_seconds=60,
        now=datetime.now(UTC) - timedelta(seconds=58),
    )
    headers = {"x-access-token": expiring}
    assert (await act.client.get("/", headers=headers)).status_code == 200
    assert (await act.client.get("/template/1", headers=headers)).status_code == 404
    claims = jwt.decode(expiring, TEST_SECRET, algorithms=["HS256"])
    await asyncio.sleep(max(0.0, claims["exp"] - time.time()) + 0.1)
    assert_token_invalid(await act.client.get("/", headers=headers))


async def test_token_ttl_comes_from_settings(make_app: MakeApp) -> None:
    app = await make_app(token_ttl_seconds=60)
    async with actions_for(app) as act:
        headers = await act.user_headers("alice")
        claims = jwt.decode(headers["x-access-token"], TEST_SECRET, algorithms=["HS256"])
        assert claims["exp"] - claims["iat"] == 60


async def test_ttl_zero_means_no_expiry(make_app: MakeApp) -> None:
    app = await make_app(token_ttl_seconds=0)
    async with actions_for(app) as act:
        user = await act.create_user("alice")
        headers = await act.login("alice")
        claims = jwt.decode(headers["x-access-token"], TEST_SECRET, algorithms=["HS256"])
        assert "exp" not in claims
        # A TTL-0 token issued long ago still works, as the original's did.
        ancient = issue_access_token(
            secret=TEST_SECRET,
            public_id=user.public_id,
            version=0,
            ttl_seconds=0,
            now=datetime(2020, 10, 12, tzinfo=UTC),
        )
        response = await act.client.get("/", headers={"x-access-token": ancient})
        assert response.status_code == 200


async def test_deleted_users_token_is_invalid(act: Actions) -> None:
    admin = await act.user_headers("admin", admin=True)
    alice = await act.user_headers("alice")
    user = (await act.users())[1]
    response = await act.client.delete(f"/user/{user.public_id}", headers=admin)
    assert response.status_code == 200
    assert_token_invalid(await act.client.get("/", headers=alice))


async def test_logout_revokes_every_token_of_the_user(act: Actions) -> None:
    await act.create_user("alice")
    await act.create_user("bob")
    first = await act.login("alice")
    second = await act.login("alice")
    bob = await act.login("bob")
    response = await act.client.post("/logout", headers=first)
    assert response.status_code == 200
    assert response.json() == {"message": "Logged out"}
    assert_token_invalid(await act.client.get("/", headers=first))
    assert_token_invalid(await act.client.get("/", headers=second))
    assert_token_invalid(await act.client.post("/logout", headers=second))
    assert (await act.client.get("/", headers=bob)).status_code == 200
    again = await act.login("alice")
    assert (await act.client.get("/", headers=again)).status_code == 200
    assert [u.token_version for u in await act.users()] == [1, 0]


async def test_unknown_user_login_still_verifies_a_hash(act: Actions) -> None:
    """No enumeration by status: an unknown name and a wrong password answer alike."""
    await act.create_user("alice")
    unknown = await act.client.get("/login", auth=("nobody", "alice-password"))
    wrong = await act.client.get("/login", auth=("alice", "bad-password"))
    assert (unknown.status_code, unknown.json(), unknown.headers["www-authenticate"]) == (
        wrong.status_code,
        wrong.json(),
        wrong.headers["www-authenticate"],
    )


async def test_a_login_reads_the_account_in_one_statement_of_the_reader(act: Actions) -> None:
    """A sign-in is a read on the hot path: one SELECT through the reader (the same
    one every hot read takes), no ORM session; only a re-hash writes."""
    await act.create_user("alice")
    database = act.app.state.database
    by_reader: list[str] = []
    database.reader.observers.append(by_reader.append)
    try:
        with database.statements() as sent:
            response = await act.client.get("/login", auth=("alice", "alice-password"))
    finally:
        database.reader.observers.remove(by_reader.append)
    assert response.status_code == 200
    [statement] = sent
    assert statement.lstrip().upper().startswith("SELECT") and "username" in statement
    if not isinstance(database.reader, EngineReader):  # that one reports to the engine
        assert by_reader == sent


# --- application tokens ----------------------------------------------------------


async def register_app(act: Actions, name: str) -> str:
    async with act.session() as session:
        _, token = await apps.add_app(session, name=name)
    return token


async def test_app_tokens_required(make_app: MakeApp) -> None:
    app = await make_app(app_tokens_required=True)
    async with actions_for(app) as act:
        await act.create_user("admin", admin=True)
        token = await register_app(act, "cli")
        revoked = await register_app(act, "old")
        async with act.session() as session:
            await apps.revoke_app(session, name="old")
        app_header = {"x-application-token": token}
        auth = ("admin", "admin-password")

        # Login needs it too, and it is checked before the credentials.
        missing = await act.client.get("/login", auth=auth)
        assert (missing.status_code, missing.json()) == (401, {"message": "App Token is missing!"})
        for bad in (revoked, "made-up", " "):
            response = await act.client.get(
                "/login", auth=auth, headers={"x-application-token": bad}
            )
            assert response.status_code == 401
            assert response.json()["message"] in {"App Token is invalid!", "App Token is missing!"}
        response = await act.client.get(
            "/login", auth=auth, headers={"x-application-token": revoked}
        )
        assert response.json() == {"message": "App Token is invalid!"}
        login = await act.client.get("/login", auth=auth, headers=app_header)
        assert login.status_code == 200
        user_header = {"x-access-token": login.json()["token"]}

        # Checked before the user token: a good user token alone is not enough,
        # and no user token at all still reports the app token first.
        for headers in ({}, user_header):
            response = await act.client.get("/user", headers=headers)
            assert response.json() == {"message": "App Token is missing!"}
        response = await act.client.get(
            "/user", headers={"x-application-token": "made-up", **user_header}
        )
        assert response.json() == {"message": "App Token is invalid!"}
        response = await act.client.get("/user", headers=app_header)
        assert response.json() == {"message": "User Token is missing!"}
        response = await act.client.get("/user", headers=app_header | user_header)
        assert response.status_code == 200

        # Probes need no token at all.
        assert (await act.client.get("/healthz")).status_code == 200
        assert (await act.client.get("/readyz")).status_code == 200


async def test_sign_up_with_only_an_app_token_in_app_token_mode(make_app: MakeApp) -> None:
    app = await make_app(app_tokens_required=True)
    async with actions_for(app) as act:
        token = await register_app(act, "signup-app")
        body = {"username": "newbie", "password": "newbie-password"}
        response = await act.client.post(
            "/user", data=body, headers={"x-application-token": token}
        )
        assert response.status_code == 200, response.text
        assert response.json()["user"]["username"] == "newbie"
        assert response.json()["user"]["admin"] is False
        response = await act.client.post("/user", data=body)
        assert response.json() == {"message": "App Token is missing!"}
        # Still not an admin's power: listing users needs an admin token.
        login = await act.client.get(
            "/login", auth=("newbie", "newbie-password"), headers={"x-application-token": token}
        )
        headers = {"x-application-token": token, "x-access-token": login.json()["token"]}
        response = await act.client.get("/user", headers=headers)
        assert response.status_code == 403


async def test_sign_up_needs_an_admin_without_app_token_mode(act: Actions) -> None:
    alice = await act.user_headers("alice")
    body = {"username": "newbie", "password": "newbie-password"}
    response = await act.client.post("/user", data=body, headers=alice)
    assert response.status_code == 403
    assert response.json() == {"message": "Cannot perform that function!"}
    response = await act.client.post("/user", data=body)
    assert response.json() == {"message": "User Token is missing!"}
    assert [u.username for u in await act.users()] == ["alice"]


async def test_unknown_username_costs_a_real_hash_verification(
    act: Actions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No enumeration by timing: an unknown name runs an argon2 verify (against a dummy
    hash) just as a wrong password does; counted here rather than timed."""
    await act.create_user("alice")
    verified: list[str] = []
    real_verify = CryptContext.verify

    def counting_verify(self: CryptContext, secret: Any, hash: Any, *args: Any, **kw: Any) -> Any:
        verified.append(str(hash)[:10])
        return real_verify(self, secret, hash, *args, **kw)

    monkeypatch.setattr(CryptContext, "verify", counting_verify)
    real_verify_and_update = CryptContext.verify_and_update

    def counting_update(self: CryptContext, secret: Any, hash: Any, *args: Any, **kw: Any) -> Any:
        verified.append(str(hash)[:10])
        return real_verify_and_update(self, secret, hash, *args, **kw)

    monkeypatch.setattr(CryptContext, "verify_and_update", counting_update)
    for username in ("nobody", "alice", "x" * 60, "nul\x00name"):
        verified.clear()
        response = await act.client.get("/login", auth=(username, "wrong-password"))
        assert_could_not_verify(response)
        assert len(verified) == 1 and verified[0].startswith("$argon2id$"), (username, verified)
