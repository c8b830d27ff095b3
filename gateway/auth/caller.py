"""Caller: who is asking. The token is read from the headers; the user is loaded on first need,
by its own query or along with a service's read (one round trip for both)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased
from sqlmodel import col

from gateway.auth.throttle import LoginThrottle
from gateway.auth.tokens import AccessClaims, read_access_token, read_legacy_token
from gateway.db.database import Db
from gateway.db.models import User
from gateway.db.reads import Statement
from gateway.errors import NOT_ADMIN, TOKEN_INVALID, TOKEN_MISSING, Forbidden, Unauthenticated
from gateway.settings import Settings

# The caller's row as every read that authenticates selects it first, in this order.
CALLER = aliased(User, name="caller")
CALLER_COLUMNS = (
    col(CALLER.id), col(CALLER.public_id), col(CALLER.username), col(CALLER.admin),
    col(CALLER.token_version),
)
WIDTH = len(CALLER_COLUMNS)
TOKEN_VERSION = 4  # the position of token_version among CALLER_COLUMNS
# The condition naming the caller's row; ``Caller.params()`` binds it.
IS_CALLER = col(CALLER.public_id) == bindparam("caller_public_id")
CALLER_ROW: Statement = select(*CALLER_COLUMNS).where(IS_CALLER)


@dataclass(frozen=True, slots=True)
class Account:
    """A signed-in user as the rules see them: never the password hash."""

    id: int
    public_id: str
    username: str
    admin: bool

    @classmethod
    def of_row(cls, row: Sequence[Any]) -> Account:
        """The account in the first columns of a row that selected ``CALLER_COLUMNS``."""
        return cls(id=row[0], public_id=row[1], username=row[2], admin=bool(row[3]))


def token_from_headers(headers: Mapping[str, str]) -> str | None:
    """``x-access-token`` as the original app read it, else ``Authorization: Bearer``."""
    token = headers.get("x-access-token")
    if token:
        return token.strip() or None
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


@dataclass
class Caller:
    """One request's identity. Nothing about a user is kept beyond the request, so a
    logout or a promotion made by another process holds on the very next request."""

    db: Db
    settings: Settings
    token: str | None = None
    # The registered app the request comes from (its name), when APP_TOKENS_REQUIRED.
    app: str | None = None
    # True once a token of the original app's shape signed this request in; the
    # response then carries Deprecation and Sunset headers (see middleware).
    legacy_token: bool = False
    # The peer's IP (behind a proxy, uvicorn's --proxy-headers puts the client's here).
    client_address: str | None = None
    # The process's login counters (built in create_app); None only outside a request.
    login_throttle: LoginThrottle | None = field(default=None, repr=False)
    _user: Account | None = field(default=None, repr=False)
    # Set while a statement that selects the caller's row is in flight, and the task
    # that sent it (see ``read_along``).
    _arriving: asyncio.Future[Account | None] | None = field(default=None, repr=False)
    _bringer: asyncio.Task[Any] | None = field(default=None, repr=False)

    @property
    def known_user(self) -> Account | None:
        """The user if already loaded (for logs); never touches the database."""
        return self._user

    def claims(self) -> AccessClaims:
        """The verified token's claims; Unauthenticated when missing, forged or expired.
        Needs no database: a read may bind ``params()`` before the user is known."""
        if not self.token:
            raise Unauthenticated(TOKEN_MISSING)
        return read_claims(self.token, self.settings)

    def params(self) -> dict[str, Any]:
        """The bound parameter of ``IS_CALLER`` (after the token checks of ``claims``)."""
        return {"caller_public_id": self.claims().public_id}

    def accept(self, row: Sequence[Any] | None) -> Account:
        """The signed-in user from the first ``WIDTH`` columns of a read that selected
        ``CALLER_COLUMNS`` where ``IS_CALLER`` (None: no such user). Unauthenticated when
        the user is gone or the token was revoked by a logout (its version is stale)."""
        claims = self.claims()
        if row is None or row[TOKEN_VERSION] != claims.version:
            raise Unauthenticated(TOKEN_INVALID)
        self.legacy_token = claims.legacy
        self._user = Account.of_row(row)
        if self._arriving is not None and not self._arriving.done():
            self._arriving.set_result(self._user)
        return self._user

    async def require_user(self) -> Account:
        """The signed-in user; Unauthenticated when the token is missing, forged,
        expired, revoked by logout, or names a user that no longer exists.

        Fields that resolve side by side (GraphQL) share one reading of the row: while
        another task's statement brings it (``read_along``), this one waits for it; if
        that statement fails or finds no valid user, this one reads the row itself."""
        if self._user is not None:
            return self._user
        arriving = self._arriving
        if arriving is not None and self._bringer is not asyncio.current_task():
            user = await asyncio.shield(arriving)
            if user is not None:
                return user
        with self.read_along():
            rows = await self.db.fetch(CALLER_ROW, self.params())
            return self.accept(rows[0] if rows else None)

    @contextmanager
    def read_along(self) -> Iterator[None]:
        """Around a statement that selects the caller's row (its own, or a service's
        read of templates with it): meanwhile other tasks of the request that need the
        user take it from that statement (``require_user``) instead of sending one of
        their own. The row still comes from this request's own statement."""
        if self._user is not None or self._arriving is not None:
            yield
            return
        self._arriving = arriving = asyncio.get_running_loop().create_future()
        self._bringer = asyncio.current_task()
        try:
            yield
        finally:
            self._arriving = self._bringer = None
            if not arriving.done():
                arriving.set_result(None)

    async def user_along(self) -> Account:
        """``require_user`` for a field that resolves beside others (GraphQL's ``me``):
        first lets the siblings start, so that one reading the caller's row anyway
        brings it for this field too."""
        if self._user is None and self._arriving is None:
            await asyncio.sleep(0)  # the sibling fields' tasks take their first step
        return await self.require_user()

    async def require_admin(self) -> Account:
        """The signed-in user if an admin; Forbidden otherwise."""
        user = await self.require_user()
        if not user.admin:
            raise Forbidden(NOT_ADMIN)
        return user


def legacy_tokens_accepted(settings: Settings, now: datetime | None = None) -> bool:
    """Whether LEGACY_TOKENS_UNTIL is set and still ahead."""
    until = settings.legacy_tokens_until
    return until is not None and (now or datetime.now(UTC)) < until


# Verified tokens, so that a client's every request does not pay for the signature check
# again: a token maps to the claims it proved, and each use still checks its expiry and,
# for the original app's tokens, that they are still accepted. Only tokens that verified
# are kept, at most VERIFIED_MAX (the oldest go first). This keeps no decision about the
# user: the caller's row is read on every request all the same.
VERIFIED_MAX = 4096
_verified: dict[tuple[str, str, str], tuple[AccessClaims, float | None]] = {}


def read_claims(token: str, settings: Settings) -> AccessClaims:
    """A gateway token (with ``ver``), or, while legacy tokens are accepted, one of the
    original app's, checked against LEGACY_SECRET_KEY if set, else SECRET_KEY."""
    key = (token, settings.secret_key, settings.legacy_secret_key)
    found = _verified.get(key)
    if found is not None:
        claims, expires = found
        if (expires is None or time.time() < expires) and (
            not claims.legacy or legacy_tokens_accepted(settings)
        ):
            return claims
        del _verified[key]
    claims = verify(token, settings, legacy=legacy_tokens_accepted(settings))
    if len(_verified) >= VERIFIED_MAX:
        del _verified[next(iter(_verified))]
    _verified[key] = (claims, claims.expires)
    return claims


def verify(token: str, settings: Settings, *, legacy: bool) -> AccessClaims:
    """The claims of a gateway token (SECRET_KEY), or with ``legacy`` of one shaped like
    the original app's (LEGACY_SECRET_KEY if set, else SECRET_KEY); Unauthenticated."""
    try:
        claims = read_access_token(token, secret=settings.secret_key)
    except Unauthenticated:
        claims = None
    if claims is not None and claims.version is not None:
        return claims
    if not legacy:
        raise Unauthenticated(TOKEN_INVALID)
    return read_legacy_token(token, secret=settings.legacy_secret_key or settings.secret_key)
