"""The ``gateway`` command: a third thin door over the services, migrations and server.

Every failure is one line on stderr (``gateway: error: …``) and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import exc as sa_exc

from gateway.cli import admin, db, doctor, serve
from gateway.cli.common import CommandFailed, port, positive
from gateway.db import migrate
from gateway.errors import GatewayError
from gateway.settings import SettingsError


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="gateway: %(message)s")
    try:
        status: int | None = args.run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("GATEWAY_DEBUG"):
            raise
        print(f"{parser.prog}: error: {describe(exc)}", file=sys.stderr)
        return 1
    return status or 0


def describe(exc: BaseException) -> str:
    """One line for the user: what went wrong, never a traceback."""
    if isinstance(exc, GatewayError):
        message = exc.message
    elif isinstance(exc, sa_exc.DBAPIError):
        message = _first_line(str(exc.orig) or exc.__class__.__name__)
        if _missing_table(message):
            message += " (run `gateway db upgrade` first)"
        else:
            message = f"database error: {message}"
    elif isinstance(exc, CommandFailed | SettingsError | migrate.MigrationError):
        message = str(exc)
    elif isinstance(exc, OSError | sa_exc.SQLAlchemyError):
        message = f"cannot use the database: {_first_line(str(exc)) or exc.__class__.__name__}"
    else:
        message = f"unexpected {exc.__class__.__name__}: {_first_line(str(exc))}"
    return _first_line(message)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _missing_table(message: str) -> bool:
    lowered = message.lower()
    return "no such table" in lowered or (
        ("relation" in lowered or "table" in lowered)
        and ("does not exist" in lowered or "doesn't exist" in lowered)
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway",
        description="Serve and administer the Gateway (REST + GraphQL meme API). "
        "Configuration comes from the environment and .env (see docs/operations.md).",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {importlib.metadata.version('gateway')}",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        group: Any, name: str, func: Callable[[argparse.Namespace], Any], text: str
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = group.add_parser(name, help=text, description=text)
        sub.set_defaults(run=func)
        return sub

    serve_cmd = command(commands, "serve", serve.serve, "Serve the API with uvicorn.")
    serve_cmd.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    serve_cmd.add_argument("--port", type=port, default=8000, help="port (default: %(default)s)")
    serve_cmd.add_argument(
        "--workers", type=positive, default=1, help="worker processes (default: %(default)s)"
    )

    db_cmd = commands.add_parser(
        "db",
        help="Migrate the database schema (Alembic).",
        description="Migrate the database schema (Alembic).",
    )
    db_commands = db_cmd.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    up = command(
        db_commands,
        "upgrade",
        db.db_upgrade,
        "Upgrade the schema (a database the original app made is recognised and taken over).",
    )
    up.add_argument("revision", nargs="?", default="head", help="target (default: head)")
    down = command(
        db_commands,
        "downgrade",
        db.db_downgrade,
        f"Downgrade the schema ({migrate.ORIGINAL_REVISION} = the original app's).",
    )
    down.add_argument("revision", help="target revision")
    command(db_commands, "current", db.db_current, "Print the database's schema revision.")
    stamp = command(
        db_commands, "stamp", db.db_stamp, "Record a revision as current without migrating."
    )
    stamp.add_argument("revision", help="revision to record")

    admin_cmd = command(
        commands,
        "create-admin",
        admin.create_admin,
        "Create an admin user (password from a prompt, or one line of stdin).",
    )
    admin_cmd.add_argument("username", nargs="?", metavar="USERNAME")
    admin_cmd.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin",
    )
    admin_cmd.add_argument(
        "--if-none",
        action="store_true",
        help=f"only if the database has no admin: create USERNAME (default {admin.FIRST_ADMIN!r}) "
        "with a generated password, printed once; otherwise do nothing",
    )

    apps_cmd = commands.add_parser(
        "apps",
        help="Manage application tokens (x-application-token).",
        description="Manage application tokens (x-application-token); only hashes are stored.",
    )
    apps_commands = apps_cmd.add_subparsers(dest="apps_command", required=True, metavar="COMMAND")
    add = command(
        apps_commands, "add", admin.apps_add,
        "Register an application and print its new token once."
    )
    add.add_argument("name", metavar="NAME")
    add.add_argument(
        "--token-stdin",
        action="store_true",
        help="register an existing token value read from stdin "
        "(e.g. one of the original deployment's)",
    )
    command(apps_commands, "list", admin.apps_list, "List registered applications.")
    revoke = command(apps_commands, "revoke", admin.apps_revoke, "Revoke an application's token.")
    revoke.add_argument("name", metavar="NAME")

    command(commands, "schema", admin.schema, "Print the GraphQL schema (SDL).")
    doctor_cmd = command(
        commands, "doctor", doctor.command,
        "Check what taking over from the original app needs (exit 1: start-up is blocked; "
        "2: a setting is wrong).",
    )
    doctor_cmd.add_argument(
        "--tokens-stdin", action="store_true",
        help="also check tokens the original app issued, one per line on stdin",
    )
    return parser
