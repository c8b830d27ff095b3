"""What every service shares: text that every database can store, paging bounds, and
inserting a row that must be unique."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import BadInput, Conflict

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_OFFSET = 2**31 - 1
MAX_ID = 2**31 - 1  # every database's INTEGER primary key
TEXT_MAX = 4096
NOT_A_URL = "url must be an http or https URL"


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, with the total the filters match (for X-Total-Count)."""

    items: list[T]
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        following = self.offset + self.limit
        return following if following < self.total else None


def paging(limit: int | None, offset: int | None) -> tuple[int, int]:
    """Validated (limit, offset): limit 1..1000 (default 100), offset 0..2^31-1."""
    limit = DEFAULT_LIMIT if limit is None else limit
    offset = 0 if offset is None else offset
    if not 1 <= limit <= MAX_LIMIT:
        raise BadInput(f"limit must be between 1 and {MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise BadInput("offset must be zero or more")
    return limit, offset


def valid_id(value: int) -> bool:
    return 1 <= value <= MAX_ID


def clean_text(name: str, value: str | None, *, max_length: int = TEXT_MAX) -> str | None:
    """Reject what some database would choke on (NUL, lone surrogates) or overflow."""
    if value is None:
        return None
    if "\x00" in value:
        raise BadInput(f"{name} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput(f"{name} must be valid UTF-8 text") from None
    if len(value) > max_length:
        raise BadInput(f"{name} must be at most {max_length} characters")
    return value


def clean_url(value: str) -> str:
    """Only http(s) links: a stored ``javascript:`` URL is stored XSS. A missing host is
    tolerated because the original README's own example posts ``http:/test.com``, but
    a url must name something: a host, or a path beyond ``/`` (``http:/``, ``http://``,
    ``https:///`` name nothing)."""
    value = clean_text("url", value) or ""
    try:
        parts = urlsplit(value)
    except ValueError:
        raise BadInput(NOT_A_URL) from None
    if parts.scheme.lower() not in {"http", "https"}:
        raise BadInput(NOT_A_URL)
    if not parts.hostname and not parts.path.strip("/"):
        raise BadInput(NOT_A_URL)
    if any(ch.isspace() or ord(ch) < 0x20 for ch in value):
        raise BadInput("url must not contain spaces or control characters")
    return value


async def insert_unique(session: AsyncSession, row: T, *, conflict: str) -> T:
    """Add ``row`` and commit; Conflict(``conflict``) when a unique index refuses it.
    Uniqueness is the database's to decide: checking first would race."""
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(conflict) from None
    return row
