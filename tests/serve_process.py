"""``gateway serve`` as an operator runs it: the installed command in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from tests.conftest import TEST_SECRET
from tests.live import free_port

GATEWAY = str(Path(sys.executable).parent / "gateway")


class ServeProcess:
    """``with ServeProcess(url, workdir, workers=2, LOG_FORMAT="json") as server:`` runs
    ``gateway serve`` until the block ends (or ``stop()``); its stderr goes to a file."""

    def __init__(self, database_url: str, workdir: Path, *, workers: int = 1, **env: str) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.workers = workers
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.log_path = workdir / f"serve-{os.getpid()}-{id(self)}.log"

    def __enter__(self) -> ServeProcess:
        for _ in range(3):  # another process may take the free port first
            port = free_port()
            self.base_url = f"http://127.0.0.1:{port}"
            self._start(port)
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"gateway serve did not start:\n{self.log()}")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _start(self, port: int) -> None:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": TEST_SECRET,
            "PASSWORD_ARGON2_MEMORY_KIB": "1024",
            "PASSWORD_ARGON2_TIME_COST": "1",
            **self.env,
        }
        command = [GATEWAY, "serve", "--port", str(port), "--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def _wait_ready(self, timeout: float = 120) -> bool:
        """Ready when /healthz answers; with several workers, when a run of requests on
        new connections has been answered (the supervisor starts workers one by one)."""
        deadline = time.monotonic() + timeout
        answered = 0
        while time.monotonic() < deadline and answered < 5 * self.workers:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=5).status_code == 200:
                    answered += 1
                    continue
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        return answered > 0

    def terminate(self, timeout: float = 120) -> int:
        """SIGTERM, then the exit status once the process has ended."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_lines(self) -> list[str]:
        return [line for line in self.log().splitlines() if line.strip()]
