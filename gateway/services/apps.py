"""Application tokens: registered client apps, stored as hashes, checked on every request."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from gateway.auth.tokens import hash_app_token, new_app_token
from gateway.db.database import Db
from gateway.db.models import Application, utcnow
from gateway.db.reads import Statement
from gateway.errors import (
    APP_TOKEN_INVALID,
    APP_TOKEN_MISSING,
    BadInput,
    NotFound,
    Unauthenticated,
)
from gateway.services.fields import clean_text, insert_unique


async def add_app(
    session: AsyncSession, *, name: str, token: str | None = None
) -> tuple[Application, str]:
    """Register an app under a new random token, or under an existing token value (an
    original deployment's). Returns the app and the token, which is never stored."""
    name = (clean_text("name", name, max_length=100) or "").strip()
    if not name:
        raise BadInput("an application needs a name")
    if token is not None:
        token = token.strip()
        if not token:
            raise BadInput("an application token must not be empty")
        clean_text("token", token, max_length=1024)
    token = token or new_app_token()
    app = Application(name=name, token_hash=hash_app_token(token))
    app = await insert_unique(
        session, app, conflict="an application with that name or token already exists"
    )
    return app, token


async def list_apps(session: AsyncSession) -> list[Application]:
    return list(await session.scalars(select(Application).order_by(col(Application.id))))


async def revoke_app(session: AsyncSession, *, name: str) -> Application:
    app = await session.scalar(select(Application).where(col(Application.name) == name))
    if app is None:
        raise NotFound(f"no application named {name!r}")
    if app.revoked_at is None:
        app.revoked_at = utcnow()
        await session.commit()
    return app


APP_BY_TOKEN: Statement = select(
    col(Application.name), col(Application.revoked_at)
).where(col(Application.token_hash) == bindparam("token_hash"))


async def check_app_token(db: Db, token: str | None) -> str:
    """The name of the app a request comes from; Unauthenticated when the token is
    missing, unknown or revoked."""
    if not token:
        raise Unauthenticated(APP_TOKEN_MISSING)
    rows = await db.fetch(APP_BY_TOKEN, {"token_hash": hash_app_token(token)})
    if not rows or rows[0][1] is not None:
        raise Unauthenticated(APP_TOKEN_INVALID)
    name: str = rows[0][0]
    return name
