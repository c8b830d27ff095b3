"""Caller: who is asking. The token is read from the headers; the user is loaded on first need."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.models import Application, User
from gateway.errors import NOT_ADMIN, TOKEN_INVALID, TOKEN_MISSING, Forbidden, Unauthenticated
from gateway.settings import Settings
from gateway.tokens import read_access_token


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
    """One request's identity. Nothing is cached beyond the request, so a logout or a
    promotion made by another process holds on the very next request."""

    session: AsyncSession
    settings: Settings
    token: str | None = None
    app: Application | None = None
    _user: User | None = field(default=None, repr=False)

    @classmethod
    def from_headers(
        cls, headers: Mapping[str, str], *, session: AsyncSession, settings: Settings
    ) -> Caller:
        return cls(session=session, settings=settings, token=token_from_headers(headers))

    @property
    def known_user(self) -> User | None:
        """The user if already loaded (for logs); never touches the database."""
        return self._user

    async def require_user(self) -> User:
        """The signed-in user; Unauthenticated when the token is missing, forged,
        expired, revoked by logout, or names a user that no longer exists."""
        if self._user is not None:
            return self._user
        if not self.token:
            raise Unauthenticated(TOKEN_MISSING)
        claims = read_access_token(self.token, secret=self.settings.secret_key)
        if claims.version is None:
            raise Unauthenticated(TOKEN_INVALID)
        user = await self.session.scalar(select(User).where(User.public_id == claims.public_id))
        if user is None or user.token_version != claims.version:
            raise Unauthenticated(TOKEN_INVALID)
        self._user = user
        return user

    async def require_admin(self) -> User:
        """The signed-in user if an admin; Forbidden otherwise."""
        user = await self.require_user()
        if not user.admin:
            raise Forbidden(NOT_ADMIN)
        return user


async def require_user(caller: Caller) -> User:
    return await caller.require_user()


async def require_admin(caller: Caller) -> User:
    return await caller.require_admin()
