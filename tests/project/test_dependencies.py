"""Every third-party module the code imports comes from a distribution that pyproject.toml
declares itself, never one that merely happens to be installed through another: gateway/
and alembic/ (both in the wheel) from the runtime dependencies, tests/ and bench/ from
those or the dev extra."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(requirements: list[str]) -> set[str]:
    """The distribution names of PEP 508 requirements (``uvicorn[standard]>=0.37`` → uvicorn)."""
    names = (re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", r) for r in requirements)
    return {canonical(name.group()) for name in names if name}


RUNTIME = declared(PROJECT["dependencies"])
DEV = RUNTIME | declared(PROJECT["optional-dependencies"]["dev"])


def third_party_imports(folder: Path) -> dict[str, Path]:
    """Each top-level module imported under ``folder`` that is neither the standard
    library nor ours, with the first file importing it."""
    ours = {"gateway", "tests"} | {path.stem for path in folder.glob("*.py")}  # bench/'s scripts
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                if top not in sys.stdlib_module_names and top not in ours:
                    found.setdefault(top, path.relative_to(ROOT))
    return found


@pytest.mark.parametrize(
    ("folder", "allowed"),
    [("gateway", RUNTIME), ("alembic", RUNTIME), ("tests", DEV), ("bench", DEV)],
    ids=["gateway", "alembic", "tests", "bench"],
)
def test_every_imported_distribution_is_declared(folder: str, allowed: set[str]) -> None:
    providers = importlib.metadata.packages_distributions()
    imports = third_party_imports(ROOT / folder)
    assert imports, f"no third-party import found under {folder}/"
    undeclared = {
        f"{module} (imported by {path})": providers.get(module, ["<not installed>"])
        for module, path in imports.items()
        if not {canonical(d) for d in providers.get(module, [])} & allowed
    }
    assert undeclared == {}, "declare these in pyproject.toml"
