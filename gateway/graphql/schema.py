"""The schema of SPEC §6: each resolver parses its arguments, calls ONE service, renders."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    QueryDepthLimiter,
)
from strawberry.types import ExecutionContext
from strawberry.types.unset import UNSET

from gateway.graphql.context import Info
from gateway.graphql.documents import Documents
from gateway.graphql.errors import GatewayErrors
from gateway.graphql.execution import PlainFieldsExecutor
from gateway.graphql.feeds import Lists
from gateway.graphql.permissions import admin_only
from gateway.graphql.types import LoginResult, Template, User, given
from gateway.services import posts, templates, users
from gateway.settings import Settings


@strawberry.type
class Query(Lists):
    @strawberry.field(description="The signed-in user.")
    async def me(self, info: Info) -> User:
        # From a sibling field's read when there is one, else a statement of its own.
        return User.of(await info.context.caller.user_along())

    @strawberry.field(extensions=admin_only())
    async def users(
        self, info: Info, limit: int | None = 100, offset: int | None = 0
    ) -> list[User]:
        page = await info.context.call(users.list_users, limit=limit, offset=offset)
        return [User.of(user) for user in page.items]

    @strawberry.field(extensions=admin_only(), description="NOT_FOUND when there is none.")
    async def user(self, info: Info, public_id: str) -> User | None:
        return User.of(await info.context.call(users.get_user, public_id=public_id))

    @strawberry.field(description="NOT_FOUND when there is none.")
    async def template(self, info: Info, id: int) -> Template | None:
        return Template.of(await info.context.read(posts.get_template, template_id=id))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="A token for the x-access-token header.")
    async def login(self, info: Info, username: str, password: str) -> LoginResult:
        token, user = await info.context.call(users.login, username=username, password=password)
        return LoginResult(token=token, user=User.of(user))

    @strawberry.mutation(description="Ends every token of the signed-in user.")
    async def logout(self, info: Info) -> bool:
        await info.context.call(users.logout)
        return True

    @strawberry.mutation(extensions=admin_only())
    async def create_user(self, info: Info, username: str, password: str) -> User:
        return User.of(
            await info.context.call(users.create_user, username=username, password=password)
        )

    @strawberry.mutation(extensions=admin_only())
    async def promote_user(self, info: Info, public_id: str) -> User:
        return User.of(await info.context.call(users.promote_user, public_id=public_id))

    @strawberry.mutation(extensions=admin_only())
    async def delete_user(self, info: Info, public_id: str) -> bool:
        await info.context.call(users.delete_user, public_id=public_id)
        return True

    @strawberry.mutation
    async def create_template(
        self, info: Info, title: str, url: str, description: str | None = UNSET
    ) -> Template:
        post = await info.context.call(
            templates.create_template, title=title, url=url, description=given(description)
        )
        return Template.of(post)

    @strawberry.mutation(description="Owner while unapproved, or an admin (which approves).")
    async def update_template(
        self, info: Info, id: int, title: str, url: str, description: str | None = UNSET
    ) -> Template:
        post = await info.context.call(
            templates.update_template,
            template_id=id,
            title=title,
            url=url,
            description=given(description),
        )
        return Template.of(post)

    @strawberry.mutation(description="Under the same rule as updateTemplate.")
    async def delete_template(self, info: Info, id: int) -> bool:
        await info.context.call(templates.delete_template, template_id=id)
        return True

    @strawberry.mutation(extensions=admin_only())
    async def approve_template(self, info: Info, id: int) -> Template:
        return Template.of(await info.context.call(templates.approve_template, template_id=id))


class GatewaySchema(strawberry.Schema):
    """The schema, with the documents it keeps parsed and validated (``documents``)."""

    def __init__(self, *, documents: Documents, **kwargs: Any) -> None:
        super().__init__(extensions=[GatewayErrors, documents.extension()], **kwargs)
        self.documents = documents

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Silent: GatewayErrors logs what is unexpected and nothing that a caller caused."""


# Parsed and validated documents are kept (per process, the least recently used dropped
# past this many): a frontend sends the same few operations over and over.
DOCUMENT_CACHE_SIZE = 512


def documents(settings: Settings | None) -> Documents:
    """The abuse limits of SPEC §2 from settings, with the documents kept under them.

    The depth and alias rules are validation-rule classes made here once: a rule class
    made per request would never match a kept document's validation."""
    if settings is None:
        return Documents(DOCUMENT_CACHE_SIZE)
    rules = [
        *QueryDepthLimiter(max_depth=settings.graphql_max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases).validation_rules,
        *(DisableIntrospection().validation_rules if not settings.graphql_introspection else []),
    ]
    return Documents(DOCUMENT_CACHE_SIZE, max_tokens=settings.graphql_max_tokens, rules=rules)


def create_schema(settings: Settings | None = None) -> GatewaySchema:
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        documents=documents(settings),
        execution_context_class=PlainFieldsExecutor,
    )


def print_sdl() -> str:
    """The schema in SDL, as ``gateway schema`` prints it."""
    return create_schema().as_str() + "\n"
