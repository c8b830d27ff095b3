"""The switch-over runbook (docs/switching.md), run through the real `gateway` command and a real
uvicorn on a copy of the original's database, then used as the original's clients would."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import FIXTURES

pytestmark = pytest.mark.slow

GATEWAY = str(Path(sys.executable).with_name("gateway"))
ORIGINAL = json.loads((FIXTURES / "original-tokens.json").read_text())
GOOD_TOKENS = {t["username"]: t["token"] for t in ORIGINAL["tokens"] if "note" not in t}
SUNSET = datetime.now(UTC).date() + timedelta(days=60)
# An application token as the original's apps.py held them: a uuid4 string.
APP_TOKEN = str(uuid.uuid4())


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    """The original's own variables, kept as they were, plus the two new ones."""
    shutil.copy(FIXTURES / "stamped.sqlite", tmp_path / "memes.db")
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return keep | {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'memes.db'}",
        "SECRET_KEY": ORIGINAL["secret_key"],
        "APP_TOKENS_REQUIRED": "true",
        "LEGACY_TOKENS_UNTIL": SUNSET.isoformat(),
    }


def gateway(env: dict[str, str], cwd: Path, *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [GATEWAY, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(environment: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """`gateway serve` after the runbook's commands; yields its base URL."""
    out = gateway(environment, tmp_path, "db", "upgrade")
    assert "upgraded database from eca8ddca17c7 to " in out
    gateway(environment, tmp_path, "apps", "add", "cli", "--token-stdin", stdin=APP_TOKEN + "\n")
    report = gateway(
        environment, tmp_path, "doctor", "--tokens-stdin", stdin="\n".join(GOOD_TOKENS.values())
    )
    assert "ok    tokens: 4 given, 4 verify" in report, report
    assert report.splitlines()[-1] == "ready to serve", report

    for _ in range(3):  # another process may take the free port before uvicorn binds it
        port = free_port()
        log = (tmp_path / f"serve-{port}.log").open("wb")
        process = subprocess.Popen(
            [GATEWAY, "serve", "--port", str(port)],
            env=environment,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        if process.poll() is None:
            try:
                yield base
            finally:
                process.terminate()
                process.wait(timeout=30)
                log.close()
            return
        log.close()
    pytest.fail((tmp_path / f"serve-{port}.log").read_text())


def test_the_originals_clients_keep_working(served: str) -> None:
    app = {"x-application-token": APP_TOKEN}
    with httpx.Client(base_url=served, timeout=30) as client:
        # A client that still holds the token the original gave it.
        old = app | {"x-access-token": GOOD_TOKENS["alice"]}
        feed = client.get("/", headers=old)
        assert feed.status_code == 200, feed.text
        titles = [t["title"] for t in feed.json()["templates"]]
        assert "Drake" in titles  # alice's own, unapproved
        assert "Ünïcödé 😀 title" not in titles  # bob's, unapproved
        assert feed.headers["sunset"] == format_datetime(
            datetime.combine(SUNSET, datetime.min.time(), UTC), usegmt=True
        )
        assert feed.headers["deprecation"].startswith("@")

        me = client.post("/graphql", json={"query": "{ me { username } }"}, headers=old)
        assert me.json() == {"data": {"me": {"username": "alice"}}}
        assert "deprecation" in me.headers

        # The same client without its app token is refused, as by the original's prod mode.
        missing = client.get("/", headers={"x-access-token": GOOD_TOKENS["alice"]})
        assert missing.status_code == 401
        assert missing.json() == {"message": "App Token is missing!"}

        # It logs in again as the original's README says, with the password it always had.
        login = client.get("/login", auth=("alice", "alice-pass-1"), headers=app)
        assert login.status_code == 200, login.text
        new = app | {"x-access-token": login.json()["token"]}
        fresh = client.get("/", headers=new)
        assert fresh.status_code == 200
        assert fresh.json() == feed.json()
        assert "deprecation" not in fresh.headers and "sunset" not in fresh.headers

        # Logging out ends the old token too.
        assert client.post("/logout", headers=new).status_code == 200
        gone = client.get("/", headers=old)
        assert gone.status_code == 401
        assert gone.json() == {"message": "User Token is invalid!"}

        # Other users' old tokens are untouched.
        bob = client.get("/template/4", headers=app | {"x-access-token": GOOD_TOKENS["bob"]})
        assert bob.status_code == 200, bob.text
        assert bob.json()["template"]["username"] == "bob"
