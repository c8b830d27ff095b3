"""What must hold in the database whatever traffic came before: checked after every fuzz run."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from gateway.auth.passwords import Passwords
from gateway.db.models import MemeTemplate, User

# Formats a stored password may have: argon2 (new), Werkzeug's (the original app's).
KNOWN_HASHES = {"argon2", "werkzeug_scrypt", "werkzeug_pbkdf2", "werkzeug_sha256"}


async def problems(database_url: str) -> list[str]:
    """Every broken invariant, one line each; empty when the data is sound:
    each template has an existing owner or none, and a non-empty title and url;
    each user has a password hash in a known format; at least one admin exists."""
    context = Passwords(memory_kib=1024, time_cost=1, parallelism=1).context
    engine = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            users = (await conn.execute(select(User.id, User.username, User.password,
                                               User.admin))).all()
            posts = (await conn.execute(select(MemeTemplate.id, MemeTemplate.user_id,
                                               MemeTemplate.title, MemeTemplate.url))).all()
    finally:
        await engine.dispose()

    found = []
    user_ids = {user.id for user in users}
    for post in posts:
        if post.user_id is not None and post.user_id not in user_ids:
            found.append(f"template {post.id} names owner {post.user_id}, who does not exist")
        if not (post.title or "").strip() or not (post.url or "").strip():
            found.append(f"template {post.id} has an empty title or url")
    for user in users:
        scheme = context.identify(user.password, required=False) if user.password else None
        if scheme not in KNOWN_HASHES:
            found.append(f"user {user.id} ({user.username!r}) has no usable password hash")
    if not any(user.admin for user in users):
        found.append("no admin is left")
    return found


def assert_consistent(database_url: str) -> None:
    """For synchronous tests (the fuzzers drive a real server from plain threads)."""
    found = asyncio.run(problems(database_url))
    assert not found, "database inconsistent after fuzzing:\n" + "\n".join(found)
