"""How template lists are narrowed, ordered and paged by cursor; all of it becomes SQL."""

from __future__ import annotations

import base64
import binascii
import enum
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String
from sqlmodel import col

from gateway.bodies import json_value
from gateway.db.models import MemeTemplate, User
from gateway.errors import BadInput
from gateway.services.fields import clean_text, valid_id

SEARCH_MAX = 200


class Order(enum.Enum):
    """``ID`` is the original API's order; the others are for feeds, newest first or not."""

    ID = "id"
    NEWEST = "newest"
    OLDEST = "oldest"


class lowered(FunctionElement[str]):
    """``lower()`` that folds non-ASCII letters on every database: SQLite's own lower()
    folds only ASCII, so there it calls ``gw_lower`` (Python's str.lower, registered
    on each connection by gateway.db.engine)."""

    type = String()
    name = "lowered"
    inherit_cache = True


@compiles(lowered)
def _lowered_default(element: lowered, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(lowered, "sqlite")
def _lowered_sqlite(element: lowered, compiler: SQLCompiler, **kw: Any) -> str:
    return f"gw_lower({compiler.process(element.clauses, **kw)})"


@dataclass(frozen=True, slots=True)
class TemplateFilter:
    """What a template list is narrowed to. A filter only narrows the list it is applied
    to (every template, or the feed's approved-plus-own), never widens or hides more:
    ``approved=False`` is exactly the unapproved rows of that list. ``search`` is a
    case-insensitive substring of title or description in which ``%`` and ``_`` are
    literal."""

    approved: bool | None = None
    username: str | None = None
    search: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    order: Order = Order.ID

    def clauses(self) -> list[Any]:
        where: list[Any] = []
        if self.approved is not None:
            where.append(col(MemeTemplate.approved).is_(self.approved))
        if self.username is not None:
            where.append(col(User.username) == clean_text("username", self.username, max_length=50))
        if self.search:
            term = (clean_text("search", self.search, max_length=SEARCH_MAX) or "").lower()
            where.append(
                or_(
                    lowered(col(MemeTemplate.title)).contains(term, autoescape=True),
                    lowered(col(MemeTemplate.description)).contains(term, autoescape=True),
                )
            )
        if self.since is not None:
            where.append(col(MemeTemplate.posted) >= _utc(self.since))
        if self.until is not None:
            where.append(col(MemeTemplate.posted) < _utc(self.until))
        return where

    def order_by(self) -> list[Any]:
        if self.order is Order.NEWEST:
            return [col(MemeTemplate.posted).desc(), col(MemeTemplate.id).desc()]
        if self.order is Order.OLDEST:
            return [col(MemeTemplate.posted).asc(), col(MemeTemplate.id).asc()]
        return [col(MemeTemplate.id).asc()]

    def after(self, cursor: str) -> Any:
        """Keyset condition for the rows after ``cursor`` in this order: stable while
        rows are added, unlike an offset."""
        posted, template_id = decode_cursor(cursor)
        if self.order is Order.OLDEST:
            return or_(
                col(MemeTemplate.posted) > posted,
                and_(col(MemeTemplate.posted) == posted, col(MemeTemplate.id) > template_id),
            )
        if self.order is Order.NEWEST:
            return or_(
                col(MemeTemplate.posted) < posted,
                and_(col(MemeTemplate.posted) == posted, col(MemeTemplate.id) < template_id),
            )
        return col(MemeTemplate.id) > template_id


def parse_order(value: str | None) -> Order:
    if value is None or value == "":
        return Order.ID
    try:
        return Order(value.strip().lower())
    except ValueError:
        raise BadInput("order must be newest, oldest or id") from None


def parse_time(name: str, value: str | None) -> datetime | None:
    """An ISO 8601 date or date-time; naive values are taken as UTC."""
    if value is None or value == "":
        return None
    try:
        return _utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        raise BadInput(f"{name} must be an ISO 8601 date or date-time") from None


def encode_cursor(template: MemeTemplate) -> str:
    raw = json.dumps([_utc(template.posted).isoformat(), template.id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        # The client's text: decoded as a body is (no depth can recurse into a 500).
        posted, template_id = json_value(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(template_id, int) or isinstance(template_id, bool):
            raise ValueError
        if not valid_id(template_id):
            raise ValueError
        return _utc(datetime.fromisoformat(posted)), template_id
    except (BadInput, ValueError, TypeError, binascii.Error, UnicodeError):
        raise BadInput("after is not a valid cursor") from None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
