"""Actions: what a test does as a user would (flaskr's AuthActions), plus a look at the rows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from gateway.db.models import MemeTemplate, User
from gateway.services.users import insert_user, passwords_for

M = TypeVar("M")


def password_of(username: str) -> str:
    return f"{username}-password"


class Actions:
    def __init__(self, client: httpx.AsyncClient, app: Starlette) -> None:
        self.client = client
        self.app = app

    def session(self) -> AsyncSession:
        session: AsyncSession = self.app.state.sessions()
        return session

    async def create_user(
        self, username: str, *, admin: bool = False, password: str | None = None
    ) -> User:
        """A user straight in the database (no HTTP), with password ``<name>-password``."""
        settings = self.app.state.settings
        hashed = await passwords_for(settings).hash(password or password_of(username))
        async with self.session() as session:
            return await insert_user(
                session, User(username=username, password=hashed, admin=admin)
            )

    async def login(self, username: str, password: str | None = None) -> dict[str, str]:
        """Log in through ``GET /login`` and return the headers that carry the token."""
        response = await self.client.get(
            "/login", auth=(username, password or password_of(username))
        )
        assert response.status_code == 200, response.text
        return {"x-access-token": response.json()["token"]}

    async def user_headers(self, username: str, *, admin: bool = False) -> dict[str, str]:
        await self.create_user(username, admin=admin)
        return await self.login(username)

    async def create_template(
        self, headers: dict[str, str], title: str = "A title", **fields: Any
    ) -> dict[str, Any]:
        body = {"title": title, "url": "https://example.com/meme.png"} | fields
        response = await self.client.post("/template", data=body, headers=headers)
        assert response.status_code == 200, response.text
        template: dict[str, Any] = response.json()["template"]
        return template

    async def graphql(
        self, query: str, headers: dict[str, str], **variables: Any
    ) -> dict[str, Any]:
        """POST a GraphQL operation; the whole response body (``data`` and ``errors``)."""
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code in (200, 400), response.text
        body: dict[str, Any] = response.json()
        return body

    async def rows(self, model: type[M], *order: Any) -> Sequence[M]:
        async with self.session() as session:
            result = await session.scalars(select(model).order_by(*order))  # type: ignore[arg-type]
            return result.all()

    async def users(self) -> Sequence[User]:
        return await self.rows(User, User.id)

    async def templates(self) -> Sequence[MemeTemplate]:
        return await self.rows(MemeTemplate, MemeTemplate.id)


@asynccontextmanager
async def actions_for(app: Starlette) -> AsyncIterator[Actions]:
    """Actions on another app (one built by ``make_app`` with changed settings)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        yield Actions(client, app)
