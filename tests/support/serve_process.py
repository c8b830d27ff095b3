"""``gateway serve`` as an operator runs it: the installed command in a subprocess."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import httpx

from tests.support.live import LiveGateway

GATEWAY = str(Path(sys.executable).parent / "gateway")


class ServeProcess(LiveGateway):
    """``with ServeProcess(url, workdir, workers=2, LOG_FORMAT="json") as server:`` runs
    ``gateway serve`` until the block ends (or ``stop()``); its stderr goes to a file.
    ``gateway=`` runs another installation's command than this environment's."""

    with_admin = False
    stop_timeout = 30.0

    def __init__(
        self,
        database_url: str,
        workdir: Path,
        *,
        workers: int = 1,
        gateway: str | Path = GATEWAY,
        **env: str,
    ) -> None:
        super().__init__(database_url, workdir, **env)
        self.workers = workers
        self.gateway = str(gateway)
        self.log_path = workdir / f"serve-{os.getpid()}-{id(self)}.log"

    def command(self, port: int) -> list[str]:
        return [self.gateway, "serve", "--port", str(port), "--workers", str(self.workers)]

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

    def log_lines(self) -> list[str]:
        return [line for line in self.log().splitlines() if line.strip()]
