"""Per-request DataLoaders: one batch query for every user's templates."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from strawberry.dataloader import DataLoader

from gateway.auth.caller import Account
from gateway.db.database import Db
from gateway.errors import GatewayError
from gateway.services import posts
from gateway.services.posts import Post

T = TypeVar("T")

# (owner, limit, offset): User.templates can be asked with different pages in one query.
TemplatesKey = tuple[Account, int | None, int | None]
Page = tuple[int | None, int | None]


@dataclass(frozen=True)
class Loaders:
    templates_of: DataLoader[TemplatesKey, list[Post]]


async def finish_under(lock: asyncio.Lock, work: Callable[[], Awaitable[T]]) -> T:
    """``work()`` under ``lock``, never cancelled once started. graphql-core cancels the
    sibling fields of one that fails (and Strawberry a batch no field awaits any more):
    work still waiting for the lock is dropped, but a statement already sent is let
    finish, since one cancelled midway makes SQLAlchemy close the connection under the
    request's session (then its closing rollback fails after the response)."""
    started = False

    async def locked() -> T:
        nonlocal started
        async with lock:
            started = True
            return await work()

    task = asyncio.ensure_future(locked())
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if not started:
            task.cancel()
        await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # retrieved: the field is cancelled either way
        raise


def create_loaders(db: Db, lock: asyncio.Lock) -> Loaders:
    """Loaders over the request's one session; ``lock`` keeps their queries from
    overlapping the resolvers' on that session."""

    async def load_templates(keys: list[TemplatesKey]) -> list[list[Post] | BaseException]:
        pages: dict[Page, set[Account]] = defaultdict(set)
        for owner, limit, offset in keys:
            pages[limit, offset].add(owner)
        found: dict[Page, dict[int, list[Post]] | GatewayError] = {}

        async def load_pages() -> None:
            for (limit, offset), owners in pages.items():
                try:
                    found[limit, offset] = await posts.templates_by_user_ids(
                        db, owners, limit=limit, offset=offset
                    )
                except GatewayError as exc:  # a bad limit fails only the fields that asked
                    found[limit, offset] = exc

        await finish_under(lock, load_pages)
        results: list[list[Post] | BaseException] = []
        for owner, limit, offset in keys:
            page = found[limit, offset]
            results.append(page if isinstance(page, BaseException) else page.get(owner.id, []))
        return results

    return Loaders(templates_of=DataLoader(load_fn=load_templates))
