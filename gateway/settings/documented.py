"""The settings' declarations written out: ``.env.example`` and the docs' table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gateway.settings import declarations

ENV_EXAMPLE_HEAD = """\
# Every setting the gateway reads, at its default. Copy to .env (read from the working
# folder; the environment wins over it) and change what you need. Details:
# docs/operations.md, "Configuration". Written by `python -m gateway.settings env-example`
# from gateway/settings (tests/operations/test_settings.py keeps it so).
"""


def variables() -> Iterator[tuple[str, str, Any]]:
    """(variable, meaning, default) of every variable read, in declaration order; the
    other names a setting is read from come after its own, with no default."""
    for declared in declarations():
        yield declared.metadata["env"], declared.metadata["meaning"], declared.default
        for name, meaning in declared.metadata["also"]:
            yield name, meaning, None


def written(value: Any) -> str:
    """A default as the variable would spell it (empty: unset)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def env_example() -> str:
    entries = (f"# {meaning}\n{name}={written(default)}\n" for name, meaning, default
               in variables())
    return ENV_EXAMPLE_HEAD + "\n" + "".join(entries)


def markdown_table() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, meaning, default in variables():
        shown = f"`{written(default)}`" if written(default) else "unset"
        cell = meaning.replace("|", r"\|")
        rows.append(f"| `{name}` | {shown} | {cell} |")
    return "\n".join(rows) + "\n"
