"""The ``gateway`` command: a third thin door over the services, migrations and server.

Every failure is one line on stderr (``gateway: error: …``) and a non-zero exit.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib.metadata
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import migrate
from gateway.db.engine import create_engine, session_factory
from gateway.errors import Conflict, GatewayError
from gateway.services import apps, users
from gateway.settings import Settings, SettingsError

T = TypeVar("T")

FIRST_ADMIN = "admin"


class CommandFailed(Exception):
    """A command cannot do what was asked; the message is the one line to show."""


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


# --- serve -------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from gateway.logs import logging_config
    from gateway.metrics import multiprocess_dir

    settings = Settings.from_env()  # a bad value stops here, in one line
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_config": logging_config(settings),  # LOG_FORMAT/LOG_LEVEL, in every worker
        "access_log": False,  # gateway.access writes one line per request instead
        # SIGTERM: stop accepting, let requests in flight finish (at most this long),
        # then the lifespan disposes the pool.
        "timeout_graceful_shutdown": settings.shutdown_timeout,
    }
    # uvicorn re-raises the SIGTERM it handled once it has shut down gracefully; ending
    # here instead makes a clean stop exit 0, as process supervisors expect.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Several workers keep their metrics in files that any worker's /metrics adds up.
    with multiprocess_dir(args.workers):
        if args.workers > 1:
            # Each worker process builds its own app (and engine) from the environment.
            uvicorn.run(
                "gateway.asgi:create",
                factory=True,
                workers=args.workers,
                # uvicorn kills a worker that does not answer its ping within this
                # (default 5 s): too short for a worker still importing on a busy machine.
                timeout_worker_healthcheck=60,
                **options,
            )
            return
        from gateway.app import create_app
        from gateway.logs import lean_records

        lean_records()
        uvicorn.run(create_app(settings), **options)


# --- db ------------------------------------------------------------------------------


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


# --- create-admin --------------------------------------------------------------------


def create_admin(args: argparse.Namespace) -> None:
    settings = Settings.from_env()
    if args.if_none:
        run(_first_admin(settings, args.username or FIRST_ADMIN, args.password_stdin))
        return
    if not args.username:
        raise CommandFailed("a USERNAME is required (or --if-none)")
    password = _read_secret("password", from_stdin=args.password_stdin, confirm=True)

    async def create() -> None:
        async with _session(settings) as session:
            await users.create_admin(session, settings, username=args.username, password=password)

    run(create())
    print(f"created admin {args.username!r}")


async def _first_admin(settings: Settings, username: str, from_stdin: bool) -> None:
    """Create the first admin unless any admin exists; print its password once."""
    async with _session(settings) as session:
        if await users.has_admin(session):
            return
        password = _read_secret("password", from_stdin=True) if from_stdin else None
        try:
            _, password = await users.create_admin(
                session, settings, username=username, password=password
            )
        except Conflict:
            if await users.has_admin(session):  # another process made one just now
                return
            raise CommandFailed(
                f"there is no admin, and the username {username!r} is taken by a "
                "non-admin; run `gateway create-admin USERNAME`"
            ) from None
    if from_stdin:
        print(f"created the first admin {username!r}")
    else:
        print(f"created the first admin: username {username!r}, password {password}")
        print("this password is shown only now; keep it somewhere safe")


# --- apps ----------------------------------------------------------------------------


def apps_add(args: argparse.Namespace) -> None:
    token = _read_secret("token", from_stdin=True) if args.token_stdin else None

    async def add() -> str:
        async with _session(Settings.from_env()) as session:
            _, issued = await apps.add_app(session, name=args.name, token=token)
            return issued

    issued = run(add())
    if args.token_stdin:
        print(f"registered application {args.name!r} with the given token")
    else:
        print(f"registered application {args.name!r}; its token (shown only now):", file=sys.stderr)
        print(issued)


def apps_list(args: argparse.Namespace) -> None:
    async def fetch() -> list[tuple[str, str, str]]:
        async with _session(Settings.from_env()) as session:
            return [
                (
                    app.name,
                    f"{app.created_at:%Y-%m-%d %H:%M:%S}",
                    "active"
                    if app.revoked_at is None
                    else f"revoked {app.revoked_at:%Y-%m-%d %H:%M:%S}",
                )
                for app in await apps.list_apps(session)
            ]

    rows = [("NAME", "CREATED (UTC)", "STATUS"), *run(fetch())]
    width = max(len(name) for name, _, _ in rows)
    for name, created, status in rows:
        print(f"{name:<{width}}  {created:<19}  {status}")


def apps_revoke(args: argparse.Namespace) -> None:
    async def revoke() -> None:
        async with _session(Settings.from_env()) as session:
            await apps.revoke_app(session, name=args.name)

    run(revoke())
    print(f"revoked application {args.name!r}")


# --- schema --------------------------------------------------------------------------


def schema(args: argparse.Namespace) -> None:
    try:
        from gateway.graphql.schema import print_sdl
    except ImportError as exc:
        raise CommandFailed(f"the GraphQL schema is not available: {exc}") from None
    sdl = print_sdl()
    sys.stdout.write(sdl if sdl.endswith("\n") else sdl + "\n")


# --- doctor --------------------------------------------------------------------------


def doctor(args: argparse.Namespace) -> int:
    from gateway.doctor import main as examine

    return examine(tokens_stdin=args.tokens_stdin)


# --- plumbing --------------------------------------------------------------------------


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@asynccontextmanager
async def _session(settings: Settings) -> AsyncIterator[AsyncSession]:
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


def _read_secret(what: str, *, from_stdin: bool, confirm: bool = False) -> str:
    """One line from stdin, or a prompt on the terminal (twice when ``confirm``)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CommandFailed(f"no terminal to ask for the {what} on; use --{what}-stdin")
    value = getpass.getpass(f"{what.capitalize()}: ")
    if confirm and getpass.getpass(f"{what.capitalize()} again: ") != value:
        raise CommandFailed(f"the two {what}s differ")
    return value


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {raw!r}")
    return value


def _port(raw: str) -> int:
    value = _positive(raw)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {raw!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gateway",
        description="Serve and administer the Gateway (REST + GraphQL meme API). "
        "Configuration comes from the environment and .env (see README).",
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

    serve_cmd = command(commands, "serve", serve, "Serve the API with uvicorn.")
    serve_cmd.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    serve_cmd.add_argument("--port", type=_port, default=8000, help="port (default: %(default)s)")
    serve_cmd.add_argument(
        "--workers", type=_positive, default=1, help="worker processes (default: %(default)s)"
    )

    db = commands.add_parser(
        "db",
        help="Migrate the database schema (Alembic).",
        description="Migrate the database schema (Alembic).",
    )
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    up = command(
        db_commands,
        "upgrade",
        db_upgrade,
        "Upgrade the schema (a database the original app made is recognised and taken over).",
    )
    up.add_argument("revision", nargs="?", default="head", help="target (default: head)")
    down = command(
        db_commands,
        "downgrade",
        db_downgrade,
        f"Downgrade the schema ({migrate.ORIGINAL_REVISION} = the original app's).",
    )
    down.add_argument("revision", help="target revision")
    command(db_commands, "current", db_current, "Print the database's schema revision.")
    stamp = command(
        db_commands, "stamp", db_stamp, "Record a revision as current without migrating."
    )
    stamp.add_argument("revision", help="revision to record")

    admin = command(
        commands,
        "create-admin",
        create_admin,
        "Create an admin user (password from a prompt, or one line of stdin).",
    )
    admin.add_argument("username", nargs="?", metavar="USERNAME")
    admin.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin",
    )
    admin.add_argument(
        "--if-none",
        action="store_true",
        help=f"only if the database has no admin: create USERNAME (default {FIRST_ADMIN!r}) "
        "with a generated password, printed once; otherwise do nothing",
    )

    apps_cmd = commands.add_parser(
        "apps",
        help="Manage application tokens (x-application-token).",
        description="Manage application tokens (x-application-token); only hashes are stored.",
    )
    apps_commands = apps_cmd.add_subparsers(dest="apps_command", required=True, metavar="COMMAND")
    add = command(
        apps_commands, "add", apps_add, "Register an application and print its new token once."
    )
    add.add_argument("name", metavar="NAME")
    add.add_argument(
        "--token-stdin",
        action="store_true",
        help="register an existing token value read from stdin "
        "(e.g. one of the original deployment's)",
    )
    command(apps_commands, "list", apps_list, "List registered applications.")
    revoke = command(apps_commands, "revoke", apps_revoke, "Revoke an application's token.")
    revoke.add_argument("name", metavar="NAME")

    command(commands, "schema", schema, "Print the GraphQL schema (SDL).")
    doctor_cmd = command(
        commands, "doctor", doctor,
        "Check what taking over from the original app needs (exit 1: start-up is blocked; "
        "2: a setting is wrong).",
    )
    doctor_cmd.add_argument(
        "--tokens-stdin", action="store_true",
        help="also check tokens the original app issued, one per line on stdin",
    )
    return parser
