"""The benchmark's own tools: SQL statement counting, and a smoke run of bench/run.sh."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MakeApp
from tests.support import ROOT
from tests.support.actions import Actions
from tests.support.machine import require_command

SCENARIOS = ("1 template by id", "2 REST feed", "3 GraphQL screen", "4 login (Basic)",
             "5 /healthz under 4", "6 /healthz")


async def test_count_sql_reports_statements_per_request(make_app: MakeApp) -> None:
    import httpx

    app = await make_app(count_sql=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
    ) as client:
        act = Actions(client, app)
        alice = await act.user_headers("alice")
        created = await act.create_template(alice, "Drake")

        health = await client.get("/healthz")
        one = await client.get(f"/template/{created['id']}", headers=alice)
        feed = await client.get("/?limit=100", headers=alice)
        anonymous = await client.get("/")

    assert health.headers["x-sql-statements"] == "0"
    # one statement: the caller's row and the template joined to its owner
    assert one.headers["x-sql-statements"] == "1"
    # one statement: the caller's row, the page and the count of every match
    assert feed.headers["x-sql-statements"] == "1"
    assert anonymous.status_code == 401
    assert anonymous.headers["x-sql-statements"] == "0"


async def test_count_sql_is_off_by_default(act: Actions) -> None:
    response = await act.client.get("/healthz")
    assert response.status_code == 200
    assert "x-sql-statements" not in response.headers


@pytest.mark.slow
def test_bench_smoke_run_prints_every_scenario_without_failures(tmp_path: Path) -> None:
    require_command("wrk", "apt-get install -y wrk")
    env = {
        **os.environ,
        "BENCH_DB": "sqlite",
        "BENCH_WORKDIR": str(tmp_path),
        "PYTHON": sys.executable,
    }
    done = subprocess.run(
        ["bash", str(ROOT / "bench" / "run.sh"), "--smoke"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout
    for name in SCENARIOS:
        assert name in table, table
    rows = [line for line in table.splitlines() if re.match(r"\|\s*(gateway|ceiling)", line)]
    assert rows, table
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[6] == "0", row  # the non-2xx column
