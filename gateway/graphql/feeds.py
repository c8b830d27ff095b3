"""Feeds for frontends: filter arguments and Relay-style cursor connections of templates."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from gateway.graphql.context import Info
from gateway.graphql.types import Template, given
from gateway.services import posts
from gateway.services.filters import Order, TemplateFilter
from gateway.services.posts import Listing, Slice


@strawberry.enum(description="NEWEST or OLDEST by `posted` (then id); ID is the REST order.")
class TemplateOrder(enum.Enum):
    NEWEST = "newest"
    OLDEST = "oldest"
    ID = "id"


def template_filter(
    *,
    approved: bool | None = None,
    username: str | None = None,
    search: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    order: TemplateOrder | None = None,
) -> TemplateFilter:
    """The service's filter from GraphQL arguments (UNSET and null both mean "any")."""
    chosen = given(order)
    return TemplateFilter(
        approved=given(approved),
        username=given(username),
        search=given(search),
        since=given(since),
        until=given(until),
        order=Order(chosen.value) if isinstance(chosen, TemplateOrder) else Order.ID,
    )


@strawberry.type
class TemplateEdge:
    cursor: str = strawberry.field(description="Opaque; pass it as `after` for what follows.")
    node: Template


@strawberry.type(description="The Relay connection spec's page info.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool = strawberry.field(
        description="Always false: paging goes forward only (`first`/`after`)."
    )
    start_cursor: str | None = strawberry.field(description="The first edge's cursor.")
    end_cursor: str | None = strawberry.field(description="The last edge's cursor.")


@strawberry.type(description="A slice of templates in the Relay connection shape.")
class TemplateConnection:
    edges: list[TemplateEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="How many match the filters in all.")

    @classmethod
    def of(cls, chosen: Slice) -> TemplateConnection:
        edges = [TemplateEdge(cursor=p.cursor, node=Template.of(p)) for p in chosen.items]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=chosen.has_next,
                has_previous_page=False,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=chosen.total,
        )


async def connection(
    info: Info, listing: Listing, filters: TemplateFilter, first: int, after: str | None
) -> TemplateConnection:
    chosen = await info.context.read(
        posts.list_slice, listing, filters=filters, first=first, after=after
    )
    return TemplateConnection.of(chosen)


@strawberry.type
class FeedQuery:
    """Cursor-paged lists: keyset on (posted, id), so rows added while a client scrolls
    are never repeated or skipped."""

    @strawberry.field(description="The feed (approved templates plus your own), by cursor.")
    async def feed_connection(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        search: str | None = None,
        username: str | None = None,
        approved: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        order: TemplateOrder = TemplateOrder.NEWEST,
    ) -> TemplateConnection:
        filters = template_filter(
            approved=approved, username=username, search=search, since=since, until=until,
            order=order,
        )
        return await connection(info, Listing.FEED, filters, first, after)

    @strawberry.field(description="Every template, by cursor.")
    async def templates_connection(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        search: str | None = None,
        username: str | None = None,
        approved: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        order: TemplateOrder = TemplateOrder.NEWEST,
    ) -> TemplateConnection:
        filters = template_filter(
            approved=approved, username=username, search=search, since=since, until=until,
            order=order,
        )
        return await connection(info, Listing.ALL, filters, first, after)
