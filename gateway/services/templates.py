"""Templates (the original's posts): who may create, change, approve or delete one."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

from sqlalchemy import CursorResult, Delete, Update, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from gateway.auth.caller import Account, Caller
from gateway.db.database import Db
from gateway.db.models import MemeTemplate
from gateway.errors import (
    APPROVED_POST,
    EMPTY_FIELDS,
    NO_TEMPLATE,
    NOT_OWNER,
    BadInput,
    Forbidden,
    NotFound,
)
from gateway.services.fields import clean_text, clean_url, valid_id
from gateway.services.filters import OWNER
from gateway.services.posts import Post, post_of_entity, posts_of
from gateway.services.statements import IS_OWNER, POST_COLUMNS


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
    return post_of_entity(template, user)


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
