"""Templates (the original's posts): listing, the feed, and who may change what.

Reads select the caller's row in the same statement as the templates (one round trip
authenticates and reads), and are checked in the contract's order: the token and the
caller first (401), then the template (404).
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    Delete,
    Update,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from gateway.auth.caller import CALLER, CALLER_COLUMNS, IS_CALLER, WIDTH, Account, Caller
from gateway.db.database import Db
from gateway.db.models import MemeTemplate
from gateway.db.reads import Statement
from gateway.errors import (
    APPROVED_POST,
    EMPTY_FIELDS,
    NO_TEMPLATE,
    NOT_OWNER,
    BadInput,
    Forbidden,
    NotFound,
)
from gateway.services.fields import Page, clean_text, clean_url, paging, valid_id
from gateway.services.filters import OWNER, TemplateFilter, after_params, encode_cursor

NO_FILTER = TemplateFilter()


class Listing(enum.Enum):
    """Which templates a list starts from, before any filter."""

    ALL = "all"  # every template (the original's GET /template)
    FEED = "feed"  # approved ones plus the caller's own (the original's GET /)


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


# What every template read selects after the caller's columns, in this order.
POST_COLUMNS = (
    col(MemeTemplate.id), col(MemeTemplate.title), col(MemeTemplate.url),
    col(MemeTemplate.description), col(MemeTemplate.posted), col(MemeTemplate.approved),
    col(OWNER.id), col(OWNER.public_id), col(OWNER.username), col(OWNER.admin),
)
IS_OWNER = col(OWNER.id) == col(MemeTemplate.user_id)
# One template by id, with the caller.
ONE: Statement = (
    select(*CALLER_COLUMNS, *POST_COLUMNS)
    .select_from(CALLER)
    .outerjoin(MemeTemplate, col(MemeTemplate.id) == bindparam("template_id"))
    .outerjoin(OWNER, IS_OWNER)
    .where(IS_CALLER)
)


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


def _moment(value: datetime | str) -> datetime:
    """A stored naive-UTC time (SQLite hands it over as text) as an aware datetime."""
    if isinstance(value, str):
        return _stored_moment(value)
    return value.replace(tzinfo=UTC)


def _visible(listing: Listing) -> list[Any]:
    if listing is Listing.FEED:
        return [or_(col(MemeTemplate.approved).is_(True), col(MemeTemplate.user_id) == CALLER.id)]
    return []


_statements: dict[tuple[Any, ...], Statement] = {}


def _statement(key: tuple[Any, ...], build: Callable[[], Statement]) -> Statement:
    """One statement per shape, built at its first use (shapes are few)."""
    found = _statements.get(key)
    if found is None:
        found = _statements[key] = build()
    return found


def _rows_statement(listing: Listing, filters: TemplateFilter, *, keyset: bool) -> Statement:
    """The caller, then up to ``limit`` rows of the list from ``offset`` (after the
    cursor's row with ``keyset``): the caller's row is always there, its template
    columns NULL when nothing matches."""

    def build() -> Statement:
        after = [filters.after()] if keyset else []
        matching = and_(true(), *_visible(listing), *filters.clauses(), *after)
        return (
            select(*CALLER_COLUMNS, *POST_COLUMNS)
            .select_from(CALLER)
            .outerjoin(MemeTemplate, matching)
            .outerjoin(OWNER, IS_OWNER)
            .where(IS_CALLER)
            .order_by(*filters.order_by())
            .limit(bindparam("limit"))
            .offset(bindparam("offset"))
        )

    return _statement(("rows", listing, filters.shape(), keyset), build)


def _count_statement(listing: Listing, filters: TemplateFilter) -> Statement:
    """The caller, and how many rows of the list match (no row: no such caller)."""

    def build() -> Statement:
        matching = and_(true(), *_visible(listing), *filters.clauses())
        return (
            select(*CALLER_COLUMNS, func.count(col(MemeTemplate.id)))
            .select_from(CALLER)
            .outerjoin(MemeTemplate, matching)
            .where(IS_CALLER)
            .group_by(*CALLER_COLUMNS)
        )

    return _statement(("count", listing, filters.shape()), build)


async def _count(db: Db, caller: Caller, listing: Listing, filters: TemplateFilter,
                 params: dict[str, Any]) -> int:
    rows = await db.fetch(_count_statement(listing, filters), params)
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
    rows = await db.fetch(
        _rows_statement(listing, filters, keyset=False),
        params | {"limit": limit + 1, "offset": offset},
    )
    posts = posts_of(rows, WIDTH)
    if len(posts) > limit:
        return Page(posts[:limit], await _count(db, caller, listing, filters, params),
                    limit, offset)
    if posts or not offset:
        caller.accept(rows[0] if rows else None)
        return Page(posts, offset + len(posts), limit, offset)
    return Page([], await _count(db, caller, listing, filters, params), limit, offset)


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
        _rows_statement(listing, filters, keyset=after is not None),
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


async def create_template(
    db: Db,
    caller: Caller,
    *,
    title: str | None,
    url: str | None,
    description: str | None = None,
) -> Post:
    """A new template owned by the caller; an admin's starts approved, anyone else's not.
    BadInput(EMPTY_FIELDS) without title or url; BadInput for a non-http(s) url."""
    user = await caller.require_user()
    template = MemeTemplate(**_fields(title, url, description), user_id=user.id)
    template.approved = user.admin
    db.session.add(template)
    await db.session.commit()
    return _post_of_entity(template, user)


async def update_template(
    db: Db,
    caller: Caller,
    *,
    template_id: int,
    title: str | None,
    url: str | None,
    description: str | None = None,
) -> Post:
    """Replace title, url and description. The owner may edit while unapproved; an
    admin may always, and an admin's edit approves the template. As in the original,
    the fields are checked before the template is looked up (401, 400, 404, 403)."""
    user = await caller.require_user()
    values = _fields(title, url, description)
    post = await _post(db.session, template_id)
    _check_can_change(user, post)
    if user.admin:
        values["approved"] = True
    # Every column is written (a PUT replaces all three), under the rule's guard.
    await _guarded(db.session, user, template_id, update(MemeTemplate).values(**values))
    return replace(post, **values)


async def delete_template(db: Db, caller: Caller, *, template_id: int) -> None:
    """Delete a template, under the same rule as editing it."""
    user = await caller.require_user()
    post = await _post(db.session, template_id)
    _check_can_change(user, post)
    await _guarded(db.session, user, template_id, delete(MemeTemplate))


async def approve_template(db: Db, caller: Caller, *, template_id: int) -> Post:
    """Approve a template. Admins only; NotFound(NO_TEMPLATE)."""
    user = await caller.require_admin()
    post = await _post(db.session, template_id)
    await _guarded(db.session, user, template_id, update(MemeTemplate).values(approved=True))
    return replace(post, approved=True)


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
            grouped[template.user_id].append(_post_of_entity(template, by_id[template.user_id]))
    return grouped


def _post_of_entity(template: MemeTemplate, owner: Account | None) -> Post:
    assert template.id is not None
    return Post(
        template.id, template.title, template.url, template.description,
        _moment(template.posted), bool(template.approved), owner,
    )


def _fields(title: str | None, url: str | None, description: str | None) -> dict[str, Any]:
    if not title or not url:
        raise BadInput(EMPTY_FIELDS)
    return {
        "title": clean_text("title", title),
        "url": clean_url(url),
        "description": clean_text("description", description) or None,
    }


async def _guarded(
    session: AsyncSession, user: Account, template_id: int, statement: Update | Delete
) -> None:
    """Run an UPDATE or DELETE of one template under the edit rule, and commit.

    The row is locked by primary key first, so concurrent writers queue in one lock
    order (MySQL deadlocks otherwise) and the rule is checked on the latest committed
    row: an owner's edit never lands after a concurrent approval, and a write after a
    concurrent delete is a 404, exactly as if the requests had run one by one. SQLite
    has no row locks; there the rule is repeated in the WHERE clause instead."""
    await _check_latest(session, user, template_id, lock=True)
    where = [col(MemeTemplate.id) == template_id]
    if not user.admin:
        where += [col(MemeTemplate.user_id) == user.id, col(MemeTemplate.approved).is_(False)]
    result = cast(CursorResult[Any], await session.execute(statement.where(*where)))
    if result.rowcount != 1:
        await _check_latest(session, user, template_id, lock=False)
        raise NotFound(NO_TEMPLATE)  # not reached unless the row changed twice meanwhile
    await session.commit()


async def _check_latest(
    session: AsyncSession, user: Account, template_id: int, *, lock: bool
) -> None:
    query = select(col(MemeTemplate.user_id), col(MemeTemplate.approved)).where(
        col(MemeTemplate.id) == template_id
    )
    if lock:
        query = query.with_for_update()
    fresh = (await session.execute(query)).first()
    if fresh is None:
        raise NotFound(NO_TEMPLATE)
    _check_rule(user, fresh[0], bool(fresh[1]))


def _check_can_change(user: Account, post: Post) -> None:
    _check_rule(user, post.owner.id if post.owner else None, post.approved)


def _check_rule(user: Account, owner_id: int | None, approved: bool) -> None:
    if user.admin:
        return
    if owner_id != user.id:
        raise Forbidden(NOT_OWNER)
    if approved:
        raise Forbidden(APPROVED_POST)


async def _post(session: AsyncSession, template_id: int) -> Post:
    """One template for a write, read in the write's own session and transaction."""
    if not valid_id(template_id):
        raise NotFound(NO_TEMPLATE)
    result = await session.execute(
        select(*POST_COLUMNS).outerjoin(OWNER, IS_OWNER).where(col(MemeTemplate.id) == template_id)
    )
    posts = posts_of(result.all())
    if not posts:
        raise NotFound(NO_TEMPLATE)
    return posts[0]
