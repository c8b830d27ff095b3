"""The operator's commands: ``create-admin``, ``apps add|list|revoke`` and ``schema``."""

from __future__ import annotations

import argparse
import sys

from gateway.cli.common import CommandFailed, database_session, read_secret, run
from gateway.errors import Conflict
from gateway.services import apps, users
from gateway.settings import Settings

FIRST_ADMIN = "admin"


def create_admin(args: argparse.Namespace) -> None:
    settings = Settings.from_env()
    if args.if_none:
        run(_first_admin(settings, args.username or FIRST_ADMIN, args.password_stdin))
        return
    if not args.username:
        raise CommandFailed("a USERNAME is required (or --if-none)")
    password = read_secret("password", from_stdin=args.password_stdin, confirm=True)

    async def create() -> None:
        async with database_session(settings) as session:
            await users.create_admin(session, settings, username=args.username, password=password)

    run(create())
    print(f"created admin {args.username!r}")


async def _first_admin(settings: Settings, username: str, from_stdin: bool) -> None:
    """Create the first admin unless any admin exists; print its password once."""
    async with database_session(settings) as session:
        if await users.has_admin(session):
            return
        password = read_secret("password", from_stdin=True) if from_stdin else None
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


def apps_add(args: argparse.Namespace) -> None:
    token = read_secret("token", from_stdin=True) if args.token_stdin else None

    async def add() -> str:
        async with database_session(Settings.from_env()) as session:
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
        async with database_session(Settings.from_env()) as session:
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
        async with database_session(Settings.from_env()) as session:
            await apps.revoke_app(session, name=args.name)

    run(revoke())
    print(f"revoked application {args.name!r}")


def schema(args: argparse.Namespace) -> None:
    try:
        from gateway.graphql.schema import print_sdl
    except ImportError as exc:
        raise CommandFailed(f"the GraphQL schema is not available: {exc}") from None
    sdl = print_sdl()
    sys.stdout.write(sdl if sdl.endswith("\n") else sdl + "\n")
