"""The import directions of STYLE.md: the rules live below both doors, which never meet."""

from __future__ import annotations

import ast

import pytest

from tests.support import ROOT

PACKAGE = ROOT / "gateway"

DOORS = ("gateway.rest", "gateway.graphql", "gateway.cli", "gateway.app")
# module (or package prefix) -> imports it must never make
FORBIDDEN = {
    "gateway.settings": ("gateway.",),
    "gateway.errors": ("gateway.",),
    "gateway.db.models": ("gateway.",),
    # what any failure becomes, and JSON in: below both doors, no web framework
    "gateway.failures": ("gateway.services", "starlette", "strawberry", *DOORS),
    "gateway.bodies": ("gateway.db", "gateway.services", "starlette", "strawberry", *DOORS),
    "gateway.auth.tokens": ("gateway.db", "gateway.services", *DOORS),
    "gateway.auth.passwords": ("gateway.db", "gateway.services", *DOORS),
    # who is asking, and the login counters: below the rules, which use them
    "gateway.auth": (
        "gateway.services", "gateway.middleware", "gateway.observability", *DOORS,
    ),
    # the rules: no web framework, no door, no request plumbing, no metrics
    "gateway.services": (
        "starlette", "strawberry", "gateway.middleware", "gateway.observability", *DOORS,
    ),
    "gateway.db": ("gateway.services", "gateway.auth", "gateway.middleware", *DOORS),
    "gateway.middleware": ("gateway.rest", "gateway.graphql", "gateway.cli", "gateway.app"),
    "gateway.observability": ("gateway.rest", "gateway.graphql", "gateway.cli", "gateway.app"),
    "gateway.rest": ("gateway.graphql", "strawberry", "gateway.cli"),
    "gateway.graphql": ("gateway.rest", "gateway.cli"),
}
MAY_IMPORT_APP = {"gateway.cli.serve", "gateway.cli.asgi"}


def modules() -> list[tuple[str, set[str]]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module)
        found.append((name, imported))
    return found


@pytest.mark.parametrize(("module", "imported"), modules(), ids=lambda v: str(v)[:40])
def test_imports_follow_the_layering(module: str, imported: set[str]) -> None:
    for owner, forbidden in FORBIDDEN.items():
        if module == owner or module.startswith(owner + "."):
            bad = sorted(
                i for i in imported
                if i.startswith(forbidden) and not (i == owner or i.startswith(owner + "."))
            )
            assert not bad, f"{module} must not import {bad}"
    if module not in MAY_IMPORT_APP:
        assert "gateway.app" not in imported, f"{module} imports gateway.app"
