"""GraphQL object types, served from what the services return.

Strawberry reads an object type's fields by attribute and never checks the type of what
a resolver returned, so the services' own objects are served as they are, with no copy
per row: a ``Post`` is a Template (its ``owner`` is the field named ``author``), and an
``Account`` or the admin routes' ``User`` model is a User. ``of()`` says so to the type
checker.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar, cast

import strawberry
from strawberry.types.unset import UNSET

from gateway.auth.caller import Account
from gateway.db import models
from gateway.graphql.context import Info
from gateway.services.posts import Post

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
        return cast(User, user)

    @strawberry.field(description="This user's templates by id, approved or not.")
    async def templates(
        self, info: Info, limit: int | None = 100, offset: int | None = 0
    ) -> list[Template]:
        owner: Any = self  # the service's user this User is served from (see above)
        if not isinstance(owner, Account):
            owner = Account(id=owner.id, public_id=owner.public_id, username=owner.username,
                            admin=bool(owner.admin))
        posts = await info.context.loaders.templates_of.load((owner, limit, offset))
        return Template.all_of(posts)


@strawberry.type(description="A meme template (the original API's post).")
class Template:
    id: int
    title: str
    url: str
    description: str | None
    posted: datetime
    approved: bool
    # Read with the template itself (one join), not by a loader per row.
    owner: User | None = strawberry.field(
        name="author", description="The owner; null once the owner is deleted."
    )
    username: str | None = strawberry.field(description="The owner's username; null once gone.")

    @classmethod
    def of(cls, post: Post) -> Template:
        return cast(Template, post)

    @classmethod
    def all_of(cls, posts: list[Post]) -> list[Template]:
        """``of`` for a whole list, as it is (no copy)."""
        return cast(list[Template], posts)


@strawberry.type
class LoginResult:
    token: str
    user: User
