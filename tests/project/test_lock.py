"""uv.lock pins what `make` and CI install, from PyPI alone; the requirements files that
the pip fallback installs hold the same pins (`make lock` writes all three)."""

from __future__ import annotations

import subprocess
import tomllib

import pytest

from tests.support import ROOT
from tests.support.machine import require_uv

PYPI = "https://pypi.org/simple"
FILES = "https://files.pythonhosted.org/"


def uv(*args: str) -> str:
    done = subprocess.run(
        [require_uv(), *args, "--offline", "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def pins(text: str) -> list[str]:
    """The requirement lines, without uv's header and ``# via`` annotations."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_the_lock_names_pypi_and_this_project_only() -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    for package in lock["package"]:
        if package["name"] == "gateway":
            assert package["source"] == {"editable": "."}
            continue
        assert package["source"] == {"registry": PYPI}, package["name"]
        artifacts = [package.get("sdist"), *package.get("wheels", [])]
        urls = [a["url"] for a in artifacts if a is not None]
        assert urls and all(url.startswith(FILES) for url in urls), package["name"]


def test_the_lock_is_current_with_pyproject() -> None:
    uv("lock", "--check")


@pytest.mark.parametrize(
    ("name", "extras"), [("requirements.txt", []), ("requirements-dev.txt", ["--extra", "dev"])]
)
def test_the_requirements_files_are_the_locks_pins(name: str, extras: list[str]) -> None:
    exported = uv("export", "--locked", "--no-hashes", "--no-emit-project", *extras)
    assert pins((ROOT / name).read_text()) == pins(exported), "run `make lock`"
