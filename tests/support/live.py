"""A real gateway on loopback: uvicorn in a subprocess, configured by environment only."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from tests.conftest import TEST_SECRET
from tests.support.databases import empty_tables

ADMIN = ("admin", "admin-password")
USER = ("user", "user-password")

# The same composition root `gateway serve` uses: Settings.from_env, then create_app.
SERVE = (
    "import sys, uvicorn\n"
    "from gateway.app import create_app\n"
    "from gateway.settings import Settings\n"
    "uvicorn.run(create_app(Settings.from_env(env_file=None)), host='127.0.0.1',\n"
    "            port=int(sys.argv[1]), log_level='warning', lifespan='on')\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def prepare_database(url: str) -> None:
    """An empty schema: SQLite tables made afresh, a server database's rows removed."""

    async def prepare() -> None:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            if engine.dialect.name == "sqlite":
                async with engine.begin() as conn:
                    await conn.run_sync(SQLModel.metadata.create_all)
            else:
                await empty_tables(engine)
        finally:
            await engine.dispose()

    asyncio.run(prepare())


class LiveGateway:
    """``with LiveGateway(url, workdir) as gw:`` runs uvicorn until the block ends; the
    admin ``ADMIN`` exists (ADMIN_USERNAME at start-up)."""

    with_admin = True
    stop_timeout = 10.0

    def __init__(self, database_url: str, workdir: Path, **env: str) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.log_path = workdir / f"uvicorn-{id(self)}.log"

    def __enter__(self) -> LiveGateway:
        for _ in range(3):  # another process may take the free port before uvicorn does
            port = free_port()
            self.base_url = f"http://127.0.0.1:{port}"
            self._start(port)
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"the gateway did not start:\n{self.log()}")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """Only what the test chose: nothing of the test runner's environment leaks in."""
        admin = {"ADMIN_USERNAME": ADMIN[0], "ADMIN_PASSWORD": ADMIN[1]} if self.with_admin else {}
        return {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": TEST_SECRET,
            "PASSWORD_ARGON2_MEMORY_KIB": "1024",
            "PASSWORD_ARGON2_TIME_COST": "1",
            **admin,
            **self.env,
        }

    def command(self, port: int) -> list[str]:
        return [sys.executable, "-c", SERVE, str(port)]

    def _start(self, port: int) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(port),
                cwd=self.workdir,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def _wait_ready(self, timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, **kwargs)  # type: ignore[arg-type]

    def token(self, username: str, password: str) -> str:
        response = httpx.get(f"{self.base_url}/login", auth=(username, password), timeout=30)
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token

    def seed_user(self) -> None:
        """The plain user ``USER``, created by the admin through REST."""
        admin = {"x-access-token": self.token(*ADMIN)}
        response = httpx.post(
            f"{self.base_url}/user",
            data={"username": USER[0], "password": USER[1]},
            headers=admin,
            timeout=30,
        )
        assert response.status_code == 200, response.text

    def seed_templates(self) -> None:
        """Two templates of ``USER`` and one of ``ADMIN`` (ids 1 to 3), for the fuzzers
        to find, edit and delete."""
        for who, title in [(USER, "Drake"), (USER, "Distracted"), (ADMIN, "Doge")]:
            response = httpx.post(
                f"{self.base_url}/template",
                data={"title": title, "url": "https://example.com/meme.png"},
                headers={"x-access-token": self.token(*who)},
                timeout=30,
            )
            assert response.status_code == 200, response.text
