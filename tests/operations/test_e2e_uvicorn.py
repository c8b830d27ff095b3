"""End to end: ``python -m uvicorn gateway.cli.asgi:create --factory`` on loopback, over real
TCP, configured by environment only, answers a login + create + feed round trip."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.db import migrate
from tests import conftest
from tests.support.live import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"
    asyncio.run(migrate.upgrade(conftest.test_settings(database_url), "head"))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": database_url,
        "SECRET_KEY": conftest.TEST_SECRET,
        "ADMIN_USERNAME": "admin",
        "ADMIN_PASSWORD": "admin-password",
        "PASSWORD_ARGON2_MEMORY_KIB": "1024",
        "PASSWORD_ARGON2_TIME_COST": "1",
    }
    log_path = tmp_path / "uvicorn.log"
    for _ in range(3):  # another process may take the free port before uvicorn binds it
        port = free_port()
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "gateway.cli.asgi:create", "--factory",
                 "--host", "127.0.0.1", "--port", str(port)],
                cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        base_url = f"http://127.0.0.1:{port}"
        if wait_healthy(process, base_url):
            break
        stop(process)
    else:
        pytest.fail(f"uvicorn did not start:\n{log_path.read_text()}")
    try:
        yield base_url
    finally:
        stop(process)
        log = log_path.read_text()
        assert "Traceback" not in log, log


def wait_healthy(process: subprocess.Popen[bytes], base_url: str) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            time.sleep(0.1)
    return False


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_login_create_and_feed_over_real_http(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        assert client.get("/readyz").status_code == 200
        login = client.get("/login", auth=("admin", "admin-password"))
        assert login.status_code == 200
        admin = {"x-access-token": login.json()["token"]}

        created = client.post(
            "/user", data={"username": "alice", "password": "alice-password"}, headers=admin
        )
        assert created.status_code == 200
        login = client.post("/login", json={"username": "alice", "password": "alice-password"})
        alice = {"Authorization": f"Bearer {login.json()['token']}"}

        post = client.post(
            "/template", data={"title": "Drake", "url": "https://i.imgflip.com/30b1gx.jpg"},
            headers=alice,
        )
        assert post.status_code == 200
        template = post.json()["template"]
        assert template["approved"] is False

        feed = client.get("/", headers=alice)
        assert feed.status_code == 200
        assert [t["id"] for t in feed.json()["templates"]] == [template["id"]]
        assert feed.headers["x-total-count"] == "1"
        assert client.get("/", headers=admin).json()["templates"] == []

        approve = client.put(
            f"/template/{template['id']}",
            data={"title": "Drake", "url": "https://i.imgflip.com/30b1gx.jpg"},
            headers=admin,
        )
        assert approve.json()["template"]["approved"] is True
        assert [t["title"] for t in client.get("/", headers=admin).json()["templates"]] == [
            "Drake"
        ]

        missing = client.get("/nope", headers=admin)
        assert (missing.status_code, missing.json()) == (404, {"message": "Not found"})
        assert client.post("/logout", headers=alice).json() == {"message": "Logged out"}
        assert client.get("/", headers=alice).status_code == 401
