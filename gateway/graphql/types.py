"""GraphQL object types, made from the models the services return."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

import strawberry
from strawberry.types.unset import UNSET

from gateway.db import models
from gateway.graphql.context import Info
from gateway.services.templates import Post

T = TypeVar("T")


def given(value: T | None) -> T | None:
    """An optional argument the client left out (UNSET) reads as None."""
    return None if value is UNSET else value


@strawberry.type(description="A person who signs in; the password hash is never exposed.")
class User:
    id: int
    public_id: str
    username: str
    admin: bool

    @classmethod
    def of(cls, user: models.User) -> User:
        assert user.id is not None
        return cls(id=user.id, public_id=user.public_id, username=user.username,
                   admin=bool(user.admin))

    @strawberry.field(description="This user's templates by id, approved or not.")
    async def templates(
        self, info: Info, limit: int | None = 100, offset: int | None = 0
    ) -> list[Template]:
        rows = await info.context.loaders.templates_of.load((self.id, limit, offset))
        return [Template.of(row, self.username) for row in rows]


async def author_of(root: Template, info: Info) -> User | None:
    if root.user_id is None:
        return None
    user = await info.context.loaders.authors.load(root.user_id)
    return None if user is None else User.of(user)


@strawberry.type(description="A meme template (the original API's post).")
class Template:
    id: int
    title: str
    url: str
    description: str | None
    posted: datetime
    approved: bool
    author: User | None = strawberry.field(
        resolver=author_of, description="The owner; null once the owner is deleted."
    )
    username: str | None = strawberry.field(description="The owner's username; null once gone.")
    user_id: strawberry.Private[int | None]

    @classmethod
    def of(cls, template: models.MemeTemplate, username: str | None) -> Template:
        assert template.id is not None
        return cls(
            id=template.id,
            title=template.title,
            url=template.url,
            description=template.description,
            posted=template.posted,
            approved=bool(template.approved),
            username=username,
            user_id=template.user_id,
        )

    @classmethod
    def of_post(cls, post: Post) -> Template:
        return cls.of(post.template, post.username)


@strawberry.type
class LoginResult:
    token: str
    user: User
