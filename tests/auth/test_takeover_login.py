"""After taking over the original app's database, its users log in with their old
passwords through the REST door, and their stored hashes become argon2id."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.app import create_app
from gateway.db import migrate
from gateway.db.models import User
from tests import conftest

ROWS = json.loads((conftest.FIXTURES / "rows.json").read_text())


@pytest.fixture
async def taken_over(tmp_path: Path) -> Any:
    """A copy of the original's stamped SQLite database, upgraded to head, served."""
    copy = tmp_path / "original.sqlite"
    shutil.copy(conftest.FIXTURES / "stamped.sqlite", copy)
    settings = conftest.test_settings(f"sqlite+aiosqlite:///{copy}")
    await migrate.upgrade(settings, "head")
    app = create_app(settings)
    yield app
    await app.state.engine.dispose()


async def stored_hashes(app: Any) -> dict[str, str]:
    async with app.state.sessions() as session:
        rows = await session.execute(select(User.username, User.password))
        return {name: password for name, password in rows}


async def test_every_original_user_logs_in_and_is_rehashed(taken_over: Any) -> None:
    before = await stored_hashes(taken_over)
    users = ROWS["users"]
    assert set(before) == {u["username"] for u in users}
    for user in users:
        assert not before[user["username"]].startswith("$argon2"), user["username"]
        assert before[user["username"]].startswith(user["hash_method"])

    transport = httpx.ASGITransport(app=taken_over)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        for user in users:
            wrong = await client.get("/login", auth=(user["username"], "not-the-password"))
            assert wrong.status_code == 401
            response = await client.get("/login", auth=(user["username"], user["password"]))
            assert response.status_code == 200, (user["username"], response.text)
            headers = {"x-access-token": response.json()["token"]}
            me_allowed = await client.get("/user", headers=headers)
            assert me_allowed.status_code == (200 if user["admin"] else 403), user["username"]
            feed = await client.get("/", headers=headers)
            assert feed.status_code == 200

        after = await stored_hashes(taken_over)
        for user in users:
            assert after[user["username"]].startswith("$argon2id$"), user["username"]
        # The new hash keeps working, and a second login does not re-hash again.
        for user in users:
            response = await client.get("/login", auth=(user["username"], user["password"]))
            assert response.status_code == 200
        assert await stored_hashes(taken_over) == after
