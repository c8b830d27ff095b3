"""What every command shares: running a coroutine, a session, secrets from stdin, numbers."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.engine import create_engine, session_factory
from gateway.settings import Settings

T = TypeVar("T")


class CommandFailed(Exception):
    """A command cannot do what was asked; the message is the one line to show."""


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@asynccontextmanager
async def database_session(settings: Settings) -> AsyncIterator[AsyncSession]:
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


def read_secret(what: str, *, from_stdin: bool, confirm: bool = False) -> str:
    """One line from stdin, or a prompt on the terminal (twice when ``confirm``)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CommandFailed(f"no terminal to ask for the {what} on; use --{what}-stdin")
    value = getpass.getpass(f"{what.capitalize()}: ")
    if confirm and getpass.getpass(f"{what.capitalize()} again: ") != value:
        raise CommandFailed(f"the two {what}s differ")
    return value


def positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {raw!r}")
    return value


def port(raw: str) -> int:
    value = positive(raw)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {raw!r}")
    return value


