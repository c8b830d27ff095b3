"""A tool missing from the machine skips the tests that need it, except on CI."""

from __future__ import annotations

import shutil

import pytest

from tests.support.machine import require_command

ABSENT = "gateway-no-such-tool"


def test_a_missing_command_skips_saying_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        require_command(ABSENT, f"apt-get install -y {ABSENT}")
    assert str(skipped.value) == f"{ABSENT} is not installed (apt-get install -y {ABSENT})"


def test_a_missing_command_fails_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        require_command(ABSENT, f"apt-get install -y {ABSENT}")
    assert f"{ABSENT} is not installed" in str(failed.value)


def test_a_present_command_is_its_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert require_command("sh", "apt-get install -y dash") == shutil.which("sh")
