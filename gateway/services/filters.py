"""How template lists are narrowed, ordered and paged by cursor; all of it becomes SQL.

A filter becomes SQL of a fixed *shape* (which conditions, which order) with its values
bound as parameters, so each shape is one statement built and compiled once.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String
from sqlmodel import col

from gateway.bodies import json_value
from gateway.db.models import MemeTemplate, User
from gateway.errors import BadInput
from gateway.services.fields import clean_text, valid_id
from gateway.services.users import USERNAME_MAX

SEARCH_MAX = 200
# A template's owner, as every template read joins it.
OWNER = aliased(User, name="owner")
# The id of the user named by the ``username`` filter.
NAMED = select(col(User.id)).where(col(User.username) == bindparam("username")).scalar_subquery()


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
    """What a template list is narrowed to: ``approved``, the owner's ``username``, a
    case-insensitive substring of title or description (``search``, in which ``%`` and
    ``_`` are literal), and ``since``/``until`` on ``posted``; ``order`` orders it. A
    filter only narrows the list it is applied to (every template, or the feed's
    approved-plus-own), never widens or hides more: ``approved=False`` is exactly the
    unapproved rows of that list."""

    approved: bool | None = None
    username: str | None = None
    search: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    order: Order = Order.ID

    def shape(self) -> tuple[Any, ...]:
        """What the SQL depends on; the values themselves are ``params()``."""
        return (
            self.approved,
            self.username is not None,
            bool(self.search),
            self.since is not None,
            self.until is not None,
            self.order,
        )

    def clauses(self) -> list[Any]:
        """The conditions of this shape, on MemeTemplate's own columns."""
        where: list[Any] = []
        if self.approved is not None:
            where.append(col(MemeTemplate.approved).is_(self.approved))
        if self.username is not None:
            where.append(col(MemeTemplate.user_id) == NAMED)
        if self.search:
            pattern = bindparam("search", type_=String())
            where.append(
                or_(
                    lowered(col(MemeTemplate.title)).like(pattern, escape="/"),
                    lowered(col(MemeTemplate.description)).like(pattern, escape="/"),
                )
            )
        if self.since is not None:
            where.append(col(MemeTemplate.posted) >= bindparam("since"))
        if self.until is not None:
            where.append(col(MemeTemplate.posted) < bindparam("until"))
        return where

    def params(self) -> dict[str, Any]:
        """The values of ``clauses()``; BadInput for text no database could take."""
        values: dict[str, Any] = {}
        if self.username is not None:
            values["username"] = clean_text("username", self.username, max_length=USERNAME_MAX)
        if self.search:
            term = (clean_text("search", self.search, max_length=SEARCH_MAX) or "").lower()
            escaped = term.replace("/", "//").replace("%", "/%").replace("_", "/_")
            values["search"] = f"%{escaped}%"
        if self.since is not None:
            values["since"] = _utc(self.since)
        if self.until is not None:
            values["until"] = _utc(self.until)
        return values

    def order_by(self) -> list[Any]:
        if self.order is Order.NEWEST:
            return [col(MemeTemplate.posted).desc(), col(MemeTemplate.id).desc()]
        if self.order is Order.OLDEST:
            return [col(MemeTemplate.posted).asc(), col(MemeTemplate.id).asc()]
        return [col(MemeTemplate.id).asc()]

    def after(self) -> Any:
        """Keyset condition for the rows after the cursor's row in this order (bound by
        ``after_params``): stable while rows are added, unlike an offset."""
        posted: Any = bindparam("after_posted")
        template_id: Any = bindparam("after_id")
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


def after_params(cursor: str) -> dict[str, Any]:
    posted, template_id = decode_cursor(cursor)
    return {"after_posted": posted, "after_id": template_id}


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


def encode_cursor(posted: datetime, template_id: int) -> str:
    raw = json.dumps([_utc(posted).isoformat(), template_id], separators=(",", ":"))
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
