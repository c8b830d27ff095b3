"""Templates as both doors read them (``Post``): one, a page or a cursor slice of a list.

Every read selects the caller's row in the same statement as the templates (one round
trip authenticates and reads) and is checked in the contract's order: the token and the
caller first (401), then the template (404). They read through the reader alone, never
the ORM session (the GraphQL door relies on it: see ``Context.read``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from gateway.auth.caller import WIDTH, Account, Caller
from gateway.db.database import Db
from gateway.db.models import MemeTemplate
from gateway.errors import NO_TEMPLATE, NotFound
from gateway.services.fields import Page, paging, valid_id
from gateway.services.filters import TemplateFilter, after_params, encode_cursor
from gateway.services.statements import (
    ONE,
    Listing,
    count_statement,
    rows_statement,
)

NO_FILTER = TemplateFilter()


@dataclass(slots=True)
class Post:
    """A template with its owner (None once the owner is deleted). Read-only by
    convention (not frozen: a list of them is built on every read, and frozen
    dataclasses are several times slower to make)."""

    id: int
    title: str
    url: str
    description: str | None
    posted: datetime
    approved: bool
    owner: Account | None

    @property
    def username(self) -> str | None:
        return self.owner.username if self.owner else None

    @property
    def cursor(self) -> str:
        """The opaque cursor of this row: its (posted, id) keyset position."""
        return encode_cursor(self.posted, self.id)


@dataclass(frozen=True, slots=True)
class Slice:
    """One cursor-paged slice of a list (the GraphQL connections)."""

    items: list[Post]
    has_next: bool
    total: int


def posts_of(rows: Iterable[Sequence[Any]], start: int = 0) -> list[Post]:
    """The Posts in ``row[start:]`` (POST_COLUMNS) of each row that has one, as any driver
    returns them; one Account per owner."""
    owners: dict[int, Account] = {}
    posts = []
    for row in rows:
        (template_id, title, url, description, posted, approved,
         owner_id, owner_public_id, owner_name, owner_admin) = row[start:start + 10]
        if template_id is None:
            continue  # the caller's row alone: nothing matched
        owner = None
        if owner_id is not None:
            owner = owners.get(owner_id)
            if owner is None:
                owner = owners[owner_id] = Account(
                    id=owner_id, public_id=owner_public_id, username=owner_name,
                    admin=bool(owner_admin),
                )
        posts.append(
            Post(template_id, title, url, description, _moment(posted), bool(approved), owner)
        )
    return posts


@lru_cache(maxsize=8192)
def _stored_moment(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


@lru_cache(maxsize=8192)
def _aware_moment(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def _moment(value: datetime | str) -> datetime:
    """A stored naive-UTC time (SQLite hands it over as text, the other drivers as a
    new naive datetime per row) as an aware datetime, made once per time: the caches
    keyed on it downstream (HTTP dates, GraphQL's DateTime) then find the very object
    they hashed before, instead of hashing a new aware datetime for every row."""
    if isinstance(value, str):
        return _stored_moment(value)
    return _aware_moment(value)


async def _count(db: Db, caller: Caller, listing: Listing, filters: TemplateFilter,
                 params: dict[str, Any]) -> int:
    rows = await db.fetch(count_statement(listing, filters), params)
    caller.accept(rows[0] if rows else None)
    total: int = rows[0][WIDTH]
    return total


async def list_page(
    db: Db,
    caller: Caller,
    listing: Listing = Listing.ALL,
    *,
    filters: TemplateFilter = NO_FILTER,
    limit: int | None = None,
    offset: int | None = None,
) -> Page[Post]:
    """A page of ``listing`` narrowed and ordered by ``filters`` (by id unless asked),
    with how many match in all. Any signed-in user.

    One statement reads the caller and the page; a page that is not full also tells
    the total, so only a full page (or one past the end) counts the rows separately."""
    limit, offset = paging(limit, offset)
    params = caller.params() | filters.params()
    posts = await _page_posts(db, caller, listing, filters, params, limit, offset)
    if posts is not None and len(posts) <= limit:
        return Page(posts, offset + len(posts), limit, offset)
    total = await _count(db, caller, listing, filters, params)
    return Page(posts[:limit] if posts else [], total, limit, offset)


async def list_items(
    db: Db,
    caller: Caller,
    listing: Listing = Listing.ALL,
    *,
    filters: TemplateFilter = NO_FILTER,
    limit: int | None = None,
    offset: int | None = None,
) -> list[Post]:
    """The templates of ``list_page``'s page alone, for a list that shows no total (the
    GraphQL lists): one statement, full page or not (a page past the end still has
    the caller's row read, by the count)."""
    limit, offset = paging(limit, offset)
    params = caller.params() | filters.params()
    posts = await _page_posts(db, caller, listing, filters, params, limit, offset)
    if posts is None:
        await _count(db, caller, listing, filters, params)
        return []
    return posts[:limit]


async def _page_posts(
    db: Db,
    caller: Caller,
    listing: Listing,
    filters: TemplateFilter,
    params: dict[str, Any],
    limit: int,
    offset: int,
) -> list[Post] | None:
    """Up to ``limit + 1`` posts from ``offset`` (one more tells a full page), the
    caller taken from the same rows; None for a page past the end, whose statement
    returns no row at all, not even the caller's."""
    rows = await db.fetch(
        rows_statement(listing, filters, keyset=False),
        params | {"limit": limit + 1, "offset": offset},
    )
    posts = posts_of(rows, WIDTH)
    if not posts and offset:
        return None
    caller.accept(rows[0] if rows else None)
    return posts


async def list_slice(
    db: Db,
    caller: Caller,
    listing: Listing = Listing.ALL,
    *,
    filters: TemplateFilter = NO_FILTER,
    first: int | None = None,
    after: str | None = None,
) -> Slice:
    """``list_page`` paged by cursor: the ``first`` rows after ``after``."""
    first, _ = paging(first, 0)
    params = caller.params() | filters.params()
    keyset = after_params(after) if after else {}
    rows = await db.fetch(
        rows_statement(listing, filters, keyset=after is not None),
        params | keyset | {"limit": first + 1, "offset": 0},
    )
    caller.accept(rows[0] if rows else None)
    posts = posts_of(rows, WIDTH)
    if after is None and len(posts) <= first:
        return Slice(posts, False, len(posts))
    total = await _count(db, caller, listing, filters, params)
    return Slice(posts[:first], len(posts) > first, total)


async def get_template(db: Db, caller: Caller, *, template_id: int) -> Post:
    """One template. Any signed-in user; NotFound(NO_TEMPLATE)."""
    if not valid_id(template_id):
        await caller.require_user()
        raise NotFound(NO_TEMPLATE)
    rows = await db.fetch(ONE, caller.params() | {"template_id": template_id})
    caller.accept(rows[0] if rows else None)
    posts = posts_of(rows, WIDTH)
    if not posts:
        raise NotFound(NO_TEMPLATE)
    return posts[0]


async def templates_by_user_ids(
    db: Db, owners: Iterable[Account], *, limit: int | None, offset: int | None
) -> dict[int, list[Post]]:
    """One query for the first ``limit`` templates (after ``offset``) of each owner, by id."""
    limit, offset = paging(limit, offset)
    by_id = {owner.id: owner for owner in owners}
    if not by_id:
        return {}
    rank = (
        func.row_number()
        .over(partition_by=col(MemeTemplate.user_id), order_by=col(MemeTemplate.id))
        .label("rank")
    )
    ranked = (
        select(MemeTemplate, rank).where(col(MemeTemplate.user_id).in_(by_id)).subquery()
    )
    chosen = (
        select(MemeTemplate)
        .join(ranked, col(MemeTemplate.id) == ranked.c.id)
        .where(ranked.c.rank > offset, ranked.c.rank <= offset + limit)
        .order_by(col(MemeTemplate.user_id), col(MemeTemplate.id))
    )
    grouped: dict[int, list[Post]] = defaultdict(list)
    for template in await db.session.scalars(chosen):
        if template.user_id is not None:
            grouped[template.user_id].append(post_of_entity(template, by_id[template.user_id]))
    return grouped


def post_of_entity(template: MemeTemplate, owner: Account | None) -> Post:
    assert template.id is not None
    return Post(
        template.id, template.title, template.url, template.description,
        _moment(template.posted), bool(template.approved), owner,
    )


