"""Templates (the original's posts): listing, the feed, and who may change what."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Delete, Select, Update, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from gateway.auth import Caller
from gateway.db.models import MemeTemplate, User
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
from gateway.services.filters import TemplateFilter, encode_cursor


@dataclass(frozen=True, slots=True)
class Post:
    """A template with its owner's username (None when the owner is gone)."""

    template: MemeTemplate
    username: str | None


NO_FILTER = TemplateFilter()


@dataclass(frozen=True, slots=True)
class Slice:
    """One cursor-paged slice of a list (the GraphQL connections)."""

    items: list[Post]
    has_next: bool
    total: int


def _posts() -> Select[MemeTemplate, str | None]:
    return select(MemeTemplate, col(User.username)).outerjoin(
        User, col(MemeTemplate.user_id) == col(User.id)
    )


def _counted(where: Sequence[Any]) -> Select[int]:
    return (
        select(func.count())
        .select_from(MemeTemplate)
        .outerjoin(User, col(MemeTemplate.user_id) == col(User.id))
        .where(*where)
    )


async def _page(
    session: AsyncSession,
    where: Sequence[Any],
    order_by: Sequence[Any],
    limit: int | None,
    offset: int | None,
) -> Page[Post]:
    limit, offset = paging(limit, offset)
    total = await session.scalar(_counted(where)) or 0
    rows = await session.execute(
        _posts().where(*where).order_by(*order_by).limit(limit).offset(offset)
    )
    return Page([Post(t, name) for t, name in rows], total, limit, offset)


async def _slice(
    session: AsyncSession,
    where: Sequence[Any],
    filters: TemplateFilter,
    first: int | None,
    after: str | None,
) -> Slice:
    first, _ = paging(first, 0)
    total = await session.scalar(_counted(where)) or 0
    keyset = [filters.after(after)] if after else []
    rows = await session.execute(
        _posts().where(*where, *keyset).order_by(*filters.order_by()).limit(first + 1)
    )
    posts = [Post(t, name) for t, name in rows]
    return Slice(posts[:first], len(posts) > first, total)


def cursor_of(post: Post) -> str:
    """The opaque cursor of a row: its (posted, id) keyset position."""
    return encode_cursor(post.template)


def _feed_clause(user: User) -> Any:
    return or_(col(MemeTemplate.approved).is_(True), col(MemeTemplate.user_id) == user.id)


async def list_templates(
    session: AsyncSession,
    caller: Caller,
    *,
    filters: TemplateFilter = NO_FILTER,
    limit: int | None = None,
    offset: int | None = None,
) -> Page[Post]:
    """Every template, unapproved ones included (as the original listed them), narrowed
    and ordered by ``filters`` (by id unless asked). Any signed-in user."""
    await caller.require_user()
    return await _page(session, filters.clauses(), filters.order_by(), limit, offset)


async def feed(
    session: AsyncSession,
    caller: Caller,
    *,
    filters: TemplateFilter = NO_FILTER,
    limit: int | None = None,
    offset: int | None = None,
) -> Page[Post]:
    """Approved templates plus the caller's own, narrowed by ``filters``. Any signed-in user."""
    user = await caller.require_user()
    where = [_feed_clause(user), *filters.clauses()]
    return await _page(session, where, filters.order_by(), limit, offset)


async def templates_slice(
    session: AsyncSession,
    caller: Caller,
    *,
    filters: TemplateFilter = NO_FILTER,
    first: int | None = None,
    after: str | None = None,
) -> Slice:
    """``list_templates`` paged by cursor: the ``first`` rows after ``after``."""
    await caller.require_user()
    return await _slice(session, filters.clauses(), filters, first, after)


async def feed_slice(
    session: AsyncSession,
    caller: Caller,
    *,
    filters: TemplateFilter = NO_FILTER,
    first: int | None = None,
    after: str | None = None,
) -> Slice:
    """``feed`` paged by cursor: the ``first`` rows after ``after``."""
    user = await caller.require_user()
    where = [_feed_clause(user), *filters.clauses()]
    return await _slice(session, where, filters, first, after)


async def get_template(session: AsyncSession, caller: Caller, *, template_id: int) -> Post:
    """One template. Any signed-in user; NotFound(NO_TEMPLATE)."""
    await caller.require_user()
    return await _post(session, template_id)


async def create_template(
    session: AsyncSession,
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
    session.add(template)
    await session.commit()
    return Post(template, user.username)


async def update_template(
    session: AsyncSession,
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
    post = await _post(session, template_id)
    _check_can_change(user, post.template)
    if user.admin:
        values["approved"] = True
    # Every column is written (a PUT replaces all three), under the rule's guard.
    await _guarded(session, user, template_id, update(MemeTemplate).values(**values))
    return post


async def delete_template(session: AsyncSession, caller: Caller, *, template_id: int) -> None:
    """Delete a template, under the same rule as editing it."""
    user = await caller.require_user()
    post = await _post(session, template_id)
    _check_can_change(user, post.template)
    await _guarded(session, user, template_id, delete(MemeTemplate))


async def approve_template(session: AsyncSession, caller: Caller, *, template_id: int) -> Post:
    """Approve a template. Admins only; NotFound(NO_TEMPLATE)."""
    user = await caller.require_admin()
    post = await _post(session, template_id)
    await _guarded(session, user, template_id, update(MemeTemplate).values(approved=True))
    return post


async def users_by_ids(session: AsyncSession, ids: Iterable[int]) -> dict[int, User]:
    """One query for many owners (the GraphQL ``author`` loader)."""
    wanted = set(ids)
    if not wanted:
        return {}
    users = await session.scalars(select(User).where(col(User.id).in_(wanted)))
    return {user.id: user for user in users if user.id is not None}


async def templates_by_user_ids(
    session: AsyncSession, user_ids: Iterable[int], *, limit: int | None, offset: int | None
) -> dict[int, list[MemeTemplate]]:
    """One query for the first ``limit`` templates (after ``offset``) of each user, by id."""
    limit, offset = paging(limit, offset)
    wanted = set(user_ids)
    if not wanted:
        return {}
    rank = (
        func.row_number()
        .over(partition_by=col(MemeTemplate.user_id), order_by=col(MemeTemplate.id))
        .label("rank")
    )
    ranked = select(MemeTemplate, rank).where(col(MemeTemplate.user_id).in_(wanted)).subquery()
    chosen = (
        select(MemeTemplate)
        .join(ranked, col(MemeTemplate.id) == ranked.c.id)
        .where(ranked.c.rank > offset, ranked.c.rank <= offset + limit)
        .order_by(col(MemeTemplate.user_id), col(MemeTemplate.id))
    )
    grouped: dict[int, list[MemeTemplate]] = defaultdict(list)
    for template in await session.scalars(chosen):
        if template.user_id is not None:
            grouped[template.user_id].append(template)
    return grouped


def _fields(title: str | None, url: str | None, description: str | None) -> dict[str, Any]:
    if not title or not url:
        raise BadInput(EMPTY_FIELDS)
    return {
        "title": clean_text("title", title),
        "url": clean_url(url),
        "description": clean_text("description", description) or None,
    }


async def _guarded(
    session: AsyncSession, user: User, template_id: int, statement: Update | Delete
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


async def _check_latest(session: AsyncSession, user: User, template_id: int, *, lock: bool) -> None:
    query = select(MemeTemplate).where(col(MemeTemplate.id) == template_id)
    if lock:
        query = query.with_for_update()
    fresh = await session.scalar(query.execution_options(populate_existing=True))
    if fresh is None:
        raise NotFound(NO_TEMPLATE)
    _check_can_change(user, fresh)


def _check_can_change(user: User, template: MemeTemplate) -> None:
    if user.admin:
        return
    if template.user_id != user.id:
        raise Forbidden(NOT_OWNER)
    if template.approved:
        raise Forbidden(APPROVED_POST)


async def _post(session: AsyncSession, template_id: int) -> Post:
    if not valid_id(template_id):
        raise NotFound(NO_TEMPLATE)
    row = (await session.execute(_posts().where(col(MemeTemplate.id) == template_id))).first()
    if row is None:
        raise NotFound(NO_TEMPLATE)
    return Post(*row)
