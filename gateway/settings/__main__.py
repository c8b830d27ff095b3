"""``python -m gateway.settings env-example|table``: the declarations, written out."""

from __future__ import annotations

import sys

from gateway.settings.documented import env_example, markdown_table

if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what not in {"env-example", "table"}:
        sys.exit("usage: python -m gateway.settings env-example|table")
    sys.stdout.write(env_example() if what == "env-example" else markdown_table())
