"""Schemathesis against /openapi.json of a real uvicorn: no 5xx, nothing undocumented."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.consistency import assert_consistent
from tests.support.live import ADMIN, USER, LiveGateway, prepare_database

# Bounded for `make test`; `make fuzz` raises it (and runs every phase on every database).
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
EVERY_PHASE = os.environ.get("FUZZ_PHASES", "") == "all"
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"
# The plain user's run (403s everywhere) is for `make fuzz` only.
ROLES = ["admin", "user"] if EVERY_PHASE else ["admin"]
SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent))


def phases(database_url: str) -> str:
    """Every phase on SQLite; on the other databases random fuzzing only (the coverage
    phase costs a fixed ~15 s each) unless FUZZ_PHASES=all."""
    if EVERY_PHASE or database_url.startswith("sqlite"):
        return "examples,coverage,fuzzing,stateful"
    return "fuzzing"


def examples(database_url: str) -> int:
    """Half as many on the server databases in `make test`: what differs there is how
    the database takes the data, which fewer examples already reach."""
    if EVERY_PHASE or database_url.startswith("sqlite"):
        return EXAMPLES
    return max(1, EXAMPLES // 2)


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
def test_rest_door_survives_schemathesis(db_url: str, role: str, tmp_path: Path) -> None:
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
                "--max-examples", str(examples(db_url)),
                "--phases", phases(db_url),
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
