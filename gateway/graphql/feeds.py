"""The lists of templates: filter arguments, pages and Relay-style cursor connections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types.unset import UNSET

from gateway.graphql.context import Info
from gateway.graphql.types import Template, given
from gateway.services import posts
from gateway.services.filters import Order, TemplateFilter
from gateway.services.posts import Slice
from gateway.services.statements import Listing

# The service's own order, as a GraphQL enum (values NEWEST, OLDEST, ID).
TemplateOrder = strawberry.enum(
    Order,
    name="TemplateOrder",
    description="NEWEST or OLDEST by `posted` (then id); ID is the REST order.",
)


def template_filter(
    *,
    approved: bool | None = None,
    username: str | None = None,
    search: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    order: Order | None = None,
) -> TemplateFilter:
    """The service's filter from GraphQL arguments (UNSET and null both mean "any")."""
    return TemplateFilter(
        approved=given(approved),
        username=given(username),
        search=given(search),
        since=given(since),
        until=given(until),
        order=given(order) or Order.ID,
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


def page_field(listing: Listing, description: str) -> Any:
    """A list field of templates paged by limit and offset (``templates``, ``feed``)."""

    async def resolve(
        self: Any,
        info: Info,
        limit: int | None = 100,
        offset: int | None = 0,
        approved: bool | None = UNSET,
        username: str | None = UNSET,
        search: str | None = UNSET,
        since: datetime | None = UNSET,
        until: datetime | None = UNSET,
        order: Order | None = Order.ID,
    ) -> list[Template]:
        filters = template_filter(
            approved=approved, username=username, search=search, since=since, until=until,
            order=order,
        )
        # A list without a total: a full page costs no count.
        items = await info.context.read(
            posts.list_items, listing, filters=filters, limit=limit, offset=offset
        )
        return Template.all_of(items)

    return strawberry.field(resolver=resolve, description=description)


def connection_field(listing: Listing, description: str) -> Any:
    """The same list paged by cursor, in the Relay connection shape (``…Connection``):
    keyset on (posted, id), so rows added while a client scrolls are never repeated or
    skipped."""

    async def resolve(
        self: Any,
        info: Info,
        first: int = 20,
        after: str | None = None,
        approved: bool | None = UNSET,
        username: str | None = UNSET,
        search: str | None = UNSET,
        since: datetime | None = UNSET,
        until: datetime | None = UNSET,
        order: Order = Order.NEWEST,
    ) -> TemplateConnection:
        filters = template_filter(
            approved=approved, username=username, search=search, since=since, until=until,
            order=order,
        )
        chosen = await info.context.read(
            posts.list_slice, listing, filters=filters, first=first, after=after
        )
        return TemplateConnection.of(chosen)

    return strawberry.field(resolver=resolve, description=description)


@strawberry.type
class Lists:
    """Every list of templates, by page and by cursor, under the same filters."""

    templates: list[Template] = page_field(
        Listing.ALL, "Every template (by id unless `order`), narrowed by filters."
    )
    feed: list[Template] = page_field(
        Listing.FEED, "Approved templates plus the caller's own, narrowed by filters."
    )
    templates_connection: TemplateConnection = connection_field(
        Listing.ALL, "Every template, by cursor."
    )
    feed_connection: TemplateConnection = connection_field(
        Listing.FEED, "The feed (approved templates plus your own), by cursor."
    )
