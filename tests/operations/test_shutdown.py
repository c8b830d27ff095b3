"""Graceful shutdown of `gateway serve`: SIGTERM lets every request in flight finish.

The slow requests are real ones: logins, with argon2 made costlier than usual
(PASSWORD_ARGON2_TIME_COST), so that fifty of them queue for the hashing slots.
"""

from __future__ import annotations

import asyncio
import re
import signal
from pathlib import Path

import httpx
import pytest

from tests.support.live import ADMIN, prepare_database
from tests.support.serve_process import ServeProcess

IN_FLIGHT = re.compile(r"^gateway_http_requests_in_flight (\S+)$", re.MULTILINE)
SLOW_REQUESTS = 50


@pytest.mark.slow
async def test_sigterm_finishes_requests_in_flight_then_exits_0(
    sqlite_url: str, tmp_path: Path
) -> None:
    await asyncio.to_thread(prepare_database, sqlite_url)
    server = ServeProcess(
        sqlite_url,
        tmp_path,
        ADMIN_USERNAME=ADMIN[0],
        ADMIN_PASSWORD=ADMIN[1],
        PASSWORD_ARGON2_MEMORY_KIB="19456",
        PASSWORD_ARGON2_TIME_COST="4",
        SHUTDOWN_TIMEOUT="300",
    )
    await asyncio.to_thread(server.__enter__)
    try:
        assert server.process is not None
        limits = httpx.Limits(max_connections=SLOW_REQUESTS + 10)
        async with httpx.AsyncClient(
            base_url=server.base_url, timeout=300, limits=limits
        ) as client:
            logins = [
                asyncio.create_task(client.get("/login", auth=ADMIN))
                for _ in range(SLOW_REQUESTS)
            ]
            # Wait until the server has taken all fifty (in flight or already answered).
            async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as probe:
                while True:
                    text = (await probe.get("/metrics")).text
                    in_flight = int(float(IN_FLIGHT.findall(text)[0])) - 1  # not this scrape
                    done = sum(task.done() for task in logins)
                    if in_flight + done >= SLOW_REQUESTS:
                        break
                    await asyncio.sleep(0.05)
            assert in_flight > 0, "every login finished before SIGTERM; raise the cost"

            server.process.send_signal(signal.SIGTERM)
            refused = False
            while not refused and not all(task.done() for task in logins):
                try:
                    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as late:
                        await late.get("/healthz")
                except httpx.ConnectError:
                    refused = True  # stopped accepting
                await asyncio.sleep(0.05)
            responses = await asyncio.gather(*logins)

        assert [r.status_code for r in responses] == [200] * SLOW_REQUESTS
        assert all(r.json()["token"] for r in responses)
        assert refused, "new connections were still accepted after SIGTERM"
        exit_status = await asyncio.to_thread(server.process.wait, 120)
        assert exit_status == 0, server.log()
        log = server.log()
        assert "Application shutdown complete" in log  # the lifespan disposed the pool
        assert "Cancel" not in log  # no request was cut off by SHUTDOWN_TIMEOUT
    finally:
        server.stop()
