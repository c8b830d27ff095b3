"""The wheel as a deployment gets it: built from this checkout, installed (not editable)
into a fresh virtual environment, and run from an empty folder, far from the checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from gateway.db import migrate
from tests.conftest import FIXTURES
from tests.operations.test_cli import gateway_command, ok
from tests.support import ROOT
from tests.support.machine import require_uv
from tests.support.serve_process import ServeProcess

pytestmark = pytest.mark.slow

HEAD = migrate.head_revision()
ORIGINAL = migrate.ORIGINAL_REVISION
ALICE = ("alice", "alice-pass-1")  # a user of the original app (tests/fixtures/rows.json)


def run(*args: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` folder of a new virtual environment holding the built wheel."""
    uv = require_uv()
    work = tmp_path_factory.mktemp("wheel")
    run(uv, "build", "--wheel", "--out-dir", work / "dist", ROOT, cwd=work)
    [wheel] = (work / "dist").glob("gateway-*.whl")
    run(uv, "venv", "--quiet", "--python", sys.executable, work / "venv", cwd=work)
    # The wheel's own requirements, at the lock's versions (as a deployment would pin them).
    run(uv, "pip", "install", "--quiet", "--python", work / "venv" / "bin" / "python",
        wheel, "--constraint", ROOT / "requirements.txt", cwd=work)
    return work / "venv" / "bin"


def test_the_wheel_migrates_and_serves_from_an_empty_folder(
    installed: Path, tmp_path: Path
) -> None:
    where = run(
        installed / "python", "-c",
        "import gateway, gateway.db.migrate as m; print(gateway.__file__); print(m.scripts_dir())",
        cwd=tmp_path,
    ).split()
    site_packages = installed.parent / "lib"
    assert all(Path(p).is_relative_to(site_packages) for p in where), where
    assert where[1].endswith("gateway/migrations"), where

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    fresh = gateway_command(tmp_path, f"sqlite:///{tmp_path / 'new.db'}", installed / "gateway")
    assert ok(fresh("--version")) == f"gateway {version}\n"
    assert f"from none to {HEAD} (head)" in ok(fresh("db", "upgrade"))

    original_db = tmp_path / "original.db"
    shutil.copy(FIXTURES / "create_all.sqlite", original_db)
    original = gateway_command(tmp_path, f"sqlite:///{original_db}", installed / "gateway")
    upgraded = ok(original("db", "upgrade"))
    assert f"stamped {ORIGINAL}" in upgraded and f"to {HEAD} (head)" in upgraded
    ok(original("create-admin", "root", "--password-stdin", input="a-long-password\n"))

    with ServeProcess(f"sqlite:///{original_db}", tmp_path, gateway=installed / "gateway") as gw:
        for who, feed_ids in [(("root", "a-long-password"), [1, 3, 5]), (ALICE, [1, 2, 3, 5])]:
            feed = httpx.get(f"{gw.base_url}/", headers={"x-access-token": gw.token(*who)})
            assert feed.status_code == 200, feed.text
            assert [t["id"] for t in feed.json()["templates"]] == feed_ids
