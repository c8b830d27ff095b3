"""The SQL of the template reads: the columns, one template, and one statement per list
shape (which list, which filters, page or cursor), built at its first use."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, true
from sqlmodel import col

from gateway.auth.caller import CALLER, CALLER_COLUMNS, IS_CALLER
from gateway.db.models import MemeTemplate
from gateway.db.reads import Statement
from gateway.services.filters import OWNER, TemplateFilter


class Listing(enum.Enum):
    """Which templates a list starts from, before any filter."""

    ALL = "all"  # every template (the original's GET /template)
    FEED = "feed"  # approved ones plus the caller's own (the original's GET /)


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


def rows_statement(listing: Listing, filters: TemplateFilter, *, keyset: bool) -> Statement:
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


def count_statement(listing: Listing, filters: TemplateFilter) -> Statement:
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
