"""``gateway db``: the schema migrations (Alembic), the original app's database taken over."""

from __future__ import annotations

import argparse

from gateway.cli.common import run
from gateway.db import migrate
from gateway.settings import Settings


def db_upgrade(args: argparse.Namespace) -> None:
    change = run(migrate.upgrade(Settings.from_env(), args.revision))
    if change.recognised == migrate.ORIGINAL_REVISION:
        print(
            f"recognised the original app's schema without a migration record: "
            f"stamped {migrate.ORIGINAL_REVISION}"
        )
    elif change.recognised is not None:
        print(f"recognised the current schema without a migration record: stamped {change.after}")
    if change.before == change.after:
        print(f"database already at {_label(change.after)}")
    else:
        print(f"upgraded database from {_label(change.before)} to {_label(change.after)}")


def db_downgrade(args: argparse.Namespace) -> None:
    change = run(migrate.downgrade(Settings.from_env(), args.revision))
    if change.before == change.after:
        print(f"database already at {_label(change.after)}")
    else:
        print(f"downgraded database from {_label(change.before)} to {_label(change.after)}")


def db_current(args: argparse.Namespace) -> None:
    print(_label(run(migrate.current(Settings.from_env()))))


def db_stamp(args: argparse.Namespace) -> None:
    change = run(migrate.stamp(Settings.from_env(), args.revision))
    print(f"stamped database at {_label(change.after)} (was {_label(change.before)})")


def _label(revision: str | None) -> str:
    if revision is None:
        return "none"
    return f"{revision} (head)" if revision == migrate.head_revision() else revision
