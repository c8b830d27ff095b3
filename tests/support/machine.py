"""What the suite needs from the machine beyond ``.venv`` (a browser, ``wrk``, a database
or Redis server): when a piece is missing, the tests that need it skip, saying how to get
it, except on CI (``CI=true``), where that fails the run.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import pytest


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip the current test for ``reason``; on CI, fail it."""
    if on_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def require_command(name: str, install: str) -> str:
    """The path of the command ``name``; when it is not on PATH, ``unavailable`` with the
    way to install it (``install``, e.g. ``apt-get install -y wrk``)."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed ({install})")
    return path


def require_uv() -> str:
    """uv: this environment's (``make`` installs it into .venv), else the one on PATH."""
    here = shutil.which("uv", path=str(Path(sys.executable).parent))
    return here or require_command("uv", "`make` installs it into .venv, or pip install uv")
