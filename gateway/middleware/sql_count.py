"""``X-SQL-Statements`` on every response (GATEWAY_COUNT_SQL, for the benchmark)."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from gateway.db.engine import statement_count
from gateway.middleware import HTTPMiddleware


class SqlCountMiddleware(HTTPMiddleware):
    """How many SQL statements the request had run when its headers were sent."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        counter = [0]
        reset = statement_count.set(counter)

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-sql-statements", b"%d" % counter[0])]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            statement_count.reset(reset)
