"""Per-request DataLoaders: one batch query for every author, one for every user's templates."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from gateway.db.models import MemeTemplate, User
from gateway.errors import GatewayError
from gateway.services import templates

T = TypeVar("T")

# (user id, limit, offset): User.templates can be asked with different pages in one query.
TemplatesKey = tuple[int, int | None, int | None]
Page = tuple[int | None, int | None]


@dataclass(frozen=True)
class Loaders:
    authors: DataLoader[int, User | None]
    templates_of: DataLoader[TemplatesKey, list[MemeTemplate]]


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


def create_loaders(session: AsyncSession, lock: asyncio.Lock) -> Loaders:
    """Loaders over the request's one session; ``lock`` keeps their queries from
    overlapping the resolvers' on that session."""

    async def load_authors(ids: list[int]) -> list[User | None]:
        found = await finish_under(lock, lambda: templates.users_by_ids(session, ids))
        return [found.get(user_id) for user_id in ids]

    async def load_templates(
        keys: list[TemplatesKey],
    ) -> list[list[MemeTemplate] | BaseException]:
        pages: dict[Page, set[int]] = defaultdict(set)
        for user_id, limit, offset in keys:
            pages[limit, offset].add(user_id)
        found: dict[Page, dict[int, list[MemeTemplate]] | GatewayError] = {}

        async def load_pages() -> None:
            for (limit, offset), user_ids in pages.items():
                try:
                    found[limit, offset] = await templates.templates_by_user_ids(
                        session, user_ids, limit=limit, offset=offset
                    )
                except GatewayError as exc:  # a bad limit fails only the fields that asked
                    found[limit, offset] = exc

        await finish_under(lock, load_pages)
        results: list[list[MemeTemplate] | BaseException] = []
        for user_id, limit, offset in keys:
            page = found[limit, offset]
            results.append(page if isinstance(page, BaseException) else page.get(user_id, []))
        return results

    return Loaders(
        authors=DataLoader(load_fn=load_authors),
        templates_of=DataLoader(load_fn=load_templates),
    )
