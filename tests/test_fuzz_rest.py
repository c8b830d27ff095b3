"""Schemathesis against /openapi.json of a real uvicorn: no 5xx, nothing undocumented."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.consistency import assert_consistent
from tests.live import ADMIN, USER, LiveGateway, prepare_database

# Bounded for `make test`; `make fuzz` raises it (and runs every phase on every database).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
EVERY_PHASE = os.environ.get("FUZZ_PHASES", "") == "all"
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"
SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent))


def phases(database_url: str, role: str) -> str:
    """Every phase for the admin on SQLite; on the other databases and for the plain
    user, random fuzzing only (the coverage phase's fixed ~15 s each) unless asked."""
    if EVERY_PHASE or (role == "admin" and database_url.startswith("sqlite")):
        return "examples,coverage,fuzzing,stateful"
    return "fuzzing,stateful"


@pytest.mark.slow
@pytest.mark.parametrize("role", ["admin", "user"])
def test_rest_door_survives_schemathesis(db_url: str, role: str, tmp_path: Path) -> None:
    if role == "user" and not (EVERY_PHASE or db_url.startswith("sqlite")):
        pytest.skip("the plain user's run is on SQLite only, unless FUZZ_PHASES=all")
    assert SCHEMATHESIS is not None, "schemathesis is not installed (pip install -e '.[dev]')"
    prepare_database(db_url)
    with LiveGateway(db_url, tmp_path) as gateway:
        gateway.seed_user()
        gateway.seed_templates()
        token = gateway.token(*(ADMIN if role == "admin" else USER))
        run = subprocess.run(
            [
                SCHEMATHESIS, "run", f"{gateway.base_url}/openapi.json",
                "--checks", CHECKS,
                "--max-examples", str(EXAMPLES),
                "--phases", phases(db_url, role),
                "--header", f"x-access-token: {token}",
                # Logout would revoke the fuzzer's own token; test_rest_auth covers it.
                "--exclude-path", "/logout",
                "--workers", "1",
                "--generation-database", "none",
                "--no-color",
                "--request-timeout", "30",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        server_log = gateway.log()

    report = "\n".join(
        [run.stdout[-20000:], run.stderr[-5000:], "--- server log ---", server_log[-5000:]]
    )
    assert run.returncode == 0, report
    assert "Traceback" not in server_log, report
    assert_consistent(db_url)
