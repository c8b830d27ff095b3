"""The per-request GraphQL context: the request's session and caller, settings, loaders."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Concatenate, ParamSpec, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from strawberry.types import Info as StrawberryInfo

from gateway.auth.caller import Caller
from gateway.db.database import Db
from gateway.graphql.loaders import Loaders, create_loaders, finish_under

P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class Context:
    """Built once per request by ``get_context`` from what RequestContextMiddleware put on
    the request. GraphQL resolves sibling fields concurrently, but one AsyncSession
    allows one statement at a time: every use of the session goes through ``lock``
    (reads through the reader need none: ``read``)."""

    request: Request
    db: Db
    caller: Caller
    lock: asyncio.Lock
    response: Response | None = field(default=None, repr=False)
    _loaders: Loaders | None = field(default=None, repr=False)

    @property
    def loaders(self) -> Loaders:
        """The request's DataLoaders, made at the first field that needs one."""
        if self._loaders is None:
            self._loaders = create_loaders(self.db, self.lock)
        return self._loaders

    @classmethod
    def for_request(
        cls, request: Request, response: Response | None = None
    ) -> Context:
        db: Db = request.state.db
        lock = asyncio.Lock()
        return cls(
            request=request,
            db=db,
            caller=request.state.caller,
            lock=lock,
            response=response,
        )

    async def call(
        self,
        service: Callable[Concatenate[Db, Caller, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``service(session, caller, …)``: the same call the REST door makes, under
        the lock and let finish if the field is cancelled (see ``finish_under``)."""
        return await finish_under(
            self.lock, lambda: service(self.db, self.caller, *args, **kwargs)
        )

    async def read(
        self,
        service: Callable[Concatenate[Db, Caller, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """``service(db, caller, …)`` for a service that reads through the reader alone
        (the template lists, one template): it shares no session with its siblings, so
        it needs no lock, and a cancelled field's read is only dropped (a reader thread
        finishes it; asyncpg cancels it and cleans its connection up). Such a read
        selects the caller's row too, which ``me`` then takes (``Caller.read_along``)."""
        with self.caller.read_along():
            return await service(self.db, self.caller, *args, **kwargs)

    async def settle(self) -> None:
        """Wait out database work a cancelled field left running (a DataLoader batch
        that no field awaits any more finishes in its own task), so the session is idle
        when the request closes it."""
        async with self.lock:
            pass


Info = StrawberryInfo[Context, None]
