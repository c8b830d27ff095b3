"""Caller: who is asking. The token is read from the headers; the user is loaded on first need."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from gateway.db.models import Application, User
from gateway.errors import NOT_ADMIN, TOKEN_INVALID, TOKEN_MISSING, Forbidden, Unauthenticated
from gateway.settings import Settings
from gateway.throttle import LoginThrottle
from gateway.tokens import AccessClaims, read_access_token, read_legacy_token


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
    # True once a token of the original app's shape signed this request in; the
    # response then carries Deprecation and Sunset headers (see middleware).
    legacy_token: bool = False
    # The peer's IP (behind a proxy, uvicorn's --proxy-headers puts the client's here).
    client_address: str | None = None
    # The process's login counters (built in create_app); None only outside a request.
    login_throttle: LoginThrottle | None = field(default=None, repr=False)
    _user: User | None = field(default=None, repr=False)

    @classmethod
    def from_headers(
        cls,
        headers: Mapping[str, str],
        *,
        session: AsyncSession,
        settings: Settings,
        client_address: str | None = None,
        login_throttle: LoginThrottle | None = None,
    ) -> Caller:
        return cls(
            session=session,
            settings=settings,
            token=token_from_headers(headers),
            client_address=client_address,
            login_throttle=login_throttle,
        )

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
        claims = read_claims(self.token, self.settings)
        user = await self.session.scalar(
            select(User).where(col(User.public_id) == claims.public_id)
        )
        if user is None or user.token_version != claims.version:
            raise Unauthenticated(TOKEN_INVALID)
        self.legacy_token = claims.legacy
        self._user = user
        return user

    async def require_admin(self) -> User:
        """The signed-in user if an admin; Forbidden otherwise."""
        user = await self.require_user()
        if not user.admin:
            raise Forbidden(NOT_ADMIN)
        return user


def legacy_tokens_accepted(settings: Settings, now: datetime | None = None) -> bool:
    """Whether LEGACY_TOKENS_UNTIL is set and still ahead."""
    until = settings.legacy_tokens_until
    return until is not None and (now or datetime.now(UTC)) < until


def read_claims(token: str, settings: Settings) -> AccessClaims:
    """A gateway token (with ``ver``), or, while legacy tokens are accepted, one of the
    original app's, checked against LEGACY_SECRET_KEY if set, else SECRET_KEY."""
    try:
        claims = read_access_token(token, secret=settings.secret_key)
    except Unauthenticated:
        claims = None
    if claims is not None and claims.version is not None:
        return claims
    if not legacy_tokens_accepted(settings):
        raise Unauthenticated(TOKEN_INVALID)
    return read_legacy_token(token, secret=settings.legacy_secret_key or settings.secret_key)
