"""GraphQL object types, made from what the services return."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

import strawberry
from strawberry.types.unset import UNSET

from gateway.auth import Account
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
    def of(cls, user: models.User | Account) -> User:
        assert user.id is not None
        return cls(id=user.id, public_id=user.public_id, username=user.username,
                   admin=bool(user.admin))

    @strawberry.field(description="This user's templates by id, approved or not.")
    async def templates(
        self, info: Info, limit: int | None = 100, offset: int | None = 0
    ) -> list[Template]:
        owner = Account(id=self.id, public_id=self.public_id, username=self.username,
                        admin=self.admin)
        posts = await info.context.loaders.templates_of.load((owner, limit, offset))
        return [Template.of(post) for post in posts]


@strawberry.type(description="A meme template (the original API's post).")
class Template:
    id: int
    title: str
    url: str
    description: str | None
    posted: datetime
    approved: bool
    # Read with the template itself (one join), not by a loader per row.
    author: User | None = strawberry.field(
        description="The owner; null once the owner is deleted."
    )
    username: str | None = strawberry.field(description="The owner's username; null once gone.")

    @classmethod
    def of(cls, post: Post) -> Template:
        owner = post.owner
        return cls(
            id=post.id,
            title=post.title,
            url=post.url,
            description=post.description,
            posted=post.posted,
            approved=post.approved,
            author=User.of(owner) if owner else None,
            username=owner.username if owner else None,
        )


@strawberry.type
class LoginResult:
    token: str
    user: User
