"""The per-request GraphQL context: the request's session and caller, settings, loaders."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from strawberry.types import Info as StrawberryInfo

from gateway.auth import Caller
from gateway.graphql.loaders import Loaders, create_loaders
from gateway.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Context:
    """Built once per request by ``get_context`` from what RequestContextMiddleware put on
    the request. GraphQL resolves sibling fields concurrently, but one AsyncSession
    allows one statement at a time: every database call goes through ``lock``."""

    request: Request
    session: AsyncSession
    caller: Caller
    settings: Settings
    lock: asyncio.Lock
    loaders: Loaders = field(repr=False)

    @classmethod
    def for_request(cls, request: Request, settings: Settings) -> Context:
        session: AsyncSession = request.state.session
        lock = asyncio.Lock()
        return cls(
            request=request,
            session=session,
            caller=request.state.caller,
            settings=settings,
            lock=lock,
            loaders=create_loaders(session, lock),
        )

    async def call(
        self,
        service: Callable[Concatenate[AsyncSession, Caller, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``service(session, caller, …)``: the same call the REST door makes.

        graphql-core cancels sibling fields when one fails. A call still waiting for the
        lock is dropped; one already talking to the database is let finish first, since
        cancelling a statement midway makes SQLAlchemy throw the connection away."""
        started = False

        async def locked() -> T:
            nonlocal started
            async with self.lock:
                started = True
                return await service(self.session, self.caller, *args, **kwargs)

        task = asyncio.ensure_future(locked())
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not started:
                task.cancel()
            await asyncio.wait([task])
            if not task.cancelled():
                task.exception()  # retrieved: the field is cancelled either way
            raise


Info = StrawberryInfo[Context, None]
