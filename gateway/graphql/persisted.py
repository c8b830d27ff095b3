"""Automatic persisted queries (Apollo's APQ protocol) and the operation allow-list.

A client sends ``extensions.persistedQuery.sha256Hash`` instead of the query text. An
unknown hash answers ``PersistedQueryNotFound``; the client then sends the text with
its hash once, which registers it. With ``GRAPHQL_PERSISTED_ONLY`` only admins may run
or register new text; everyone else runs registered operations only.

This wraps the GraphQL ASGI app: it only rewrites the request (fills in ``query``) or
refuses it, so Strawberry sees ordinary GraphQL requests.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode

import orjson
import redis.asyncio as redis
from graphql import GraphQLError, parse
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth.caller import Caller
from gateway.bodies import json_object
from gateway.errors import BadInput, GatewayError
from gateway.graphql.errors import failure_response, http_error_body

NOT_FOUND = "PersistedQueryNotFound"
NOT_FOUND_CODE = "PERSISTED_QUERY_NOT_FOUND"
HASH_MISMATCH = "provided sha does not match query"
NOT_REGISTERED = "Only registered operations may run here"
TOO_DEEP = "The GraphQL request is nested too deeply"


class QueryStore(Protocol):
    async def get(self, sha256: str) -> str | None: ...
    async def put(self, sha256: str, query: str) -> None: ...
    async def aclose(self) -> None: ...


class MemoryQueryStore:
    """Registered queries in this process, the least recently used dropped past ``size``."""

    def __init__(self, size: int = 5000) -> None:
        self.size = size
        self._queries: OrderedDict[str, str] = OrderedDict()

    async def get(self, sha256: str) -> str | None:
        query = self._queries.get(sha256)
        if query is not None:
            self._queries.move_to_end(sha256)
        return query

    async def put(self, sha256: str, query: str) -> None:
        self._queries[sha256] = query
        self._queries.move_to_end(sha256)
        while len(self._queries) > self.size:
            self._queries.popitem(last=False)

    async def aclose(self) -> None:
        self._queries.clear()


class RedisQueryStore:
    """Registered queries in Redis, shared by every worker and instance."""

    prefix = "gateway:apq:"

    def __init__(self, client: redis.Redis) -> None:
        self.client = client  # gateway.stores', closed with the app

    async def get(self, sha256: str) -> str | None:
        value = await self.client.get(self.prefix + sha256)
        return value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else None

    async def put(self, sha256: str, query: str) -> None:
        await self.client.set(self.prefix + sha256, query.encode("utf-8", "surrogatepass"))

    async def aclose(self) -> None:
        pass


def query_store(client: redis.Redis | None) -> QueryStore:
    """In Redis when the app has a client for REDIS_URL, else in this process."""
    return RedisQueryStore(client) if client is not None else MemoryQueryStore()


def sha256_of(query: str) -> str:
    return hashlib.sha256(query.encode("utf-8", "surrogatepass")).hexdigest()


class Refused(Exception):
    def __init__(self, message: str, code: str, status: int = 200) -> None:
        self.message, self.code, self.status = message, code, status


class PersistedQueries:
    """Pure-ASGI wrapper of the GraphQL app implementing APQ and the allow-list."""

    def __init__(self, app: ASGIApp, *, store: QueryStore, persisted_only: bool) -> None:
        self.app = app
        self.store = store
        self.persisted_only = persisted_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in {"GET", "POST"}:
            await self.app(scope, receive, send)
            return
        try:
            if scope["method"] == "GET":
                scope = await self._rewrite_get(scope)
            else:
                receive = await self._rewrite_post(scope, receive)
        except Refused as refused:
            body = http_error_body(refused.message, refused.code)
            await JSONResponse(body, refused.status)(scope, receive, send)
            return
        except Exception as exc:  # the store unreachable (503), the database, a bug
            await failure_response(exc, where="GraphQL persisted queries")(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _rewrite_get(self, scope: Scope) -> Scope:
        params = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        extensions = _json_object(params.get("extensions"))
        query = await self._resolve(scope, params.get("query"), extensions)
        if query is None or query == params.get("query"):
            return scope
        params["query"] = query
        return {**scope, "query_string": urlencode(params).encode()}

    async def _rewrite_post(self, scope: Scope, receive: Receive) -> Receive:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        # Most requests carry their query: without the allow-list and without any
        # "persistedQuery" in the text (nor an escape that could spell it), there is
        # nothing to rewrite, and Strawberry decodes the body itself.
        plain = not self.persisted_only and b"persistedQuery" not in body and b"\\u" not in body
        data = None if plain else _json_object(body)
        if data is not None:
            extensions = data.get("extensions")
            original = data.get("query")
            query = await self._resolve(
                scope,
                original if isinstance(original, str) else None,
                extensions if isinstance(extensions, dict) else None,
            )
            if query is not None and query != original:
                body = _encoded({**data, "query": query})

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    async def _resolve(
        self, scope: Scope, query: str | None, extensions: dict[str, Any] | None
    ) -> str | None:
        """The query text to run, or Refused."""
        persisted = (extensions or {}).get("persistedQuery")
        if not isinstance(persisted, dict):
            if query is not None and self.persisted_only and not await _is_admin(scope):
                if await self.store.get(sha256_of(query)) != query:
                    raise Refused(NOT_REGISTERED, "FORBIDDEN")
            return query
        wanted = persisted.get("sha256Hash")
        if persisted.get("version", 1) != 1 or not isinstance(wanted, str):
            raise Refused("Unsupported persistedQuery extension", "BAD_USER_INPUT", 400)
        wanted = wanted.lower()
        if query is None:
            stored = await self.store.get(wanted) if len(wanted) == 64 else None
            if stored is None:
                raise Refused(NOT_FOUND, NOT_FOUND_CODE)
            return stored
        if sha256_of(query) != wanted:
            raise Refused(HASH_MISMATCH, "BAD_USER_INPUT", 400)
        if await self.store.get(wanted) == query:
            return query
        if self.persisted_only and not await _is_admin(scope):
            raise Refused(NOT_REGISTERED, "FORBIDDEN")
        if _parses(query):
            await self.store.put(wanted, query)
        return query


async def _is_admin(scope: Scope) -> bool:
    caller: Caller | None = scope.get("state", {}).get("caller")
    if caller is None:
        return False
    try:
        await caller.require_admin()
    except GatewayError:
        return False
    return True


def _parses(query: str) -> bool:
    """Only documents that parse are registered; Strawberry reports the others."""
    try:
        parse(query, max_tokens=20_000)
    except GraphQLError:
        return False
    return True


def _json_object(raw: str | bytes | None) -> dict[str, Any] | None:
    """The JSON object sent, or None: the GraphQL app reports what does not decode."""
    if not raw:
        return None
    try:
        return json_object(raw)
    except BadInput:
        return None


def _encoded(data: dict[str, Any]) -> bytes:
    """The rewritten body. orjson encodes at most 254 levels of nesting (it decodes
    1024); no operation of this schema takes variables nested anywhere near that."""
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError:
        raise Refused(TOO_DEEP, "BAD_USER_INPUT", 400) from None
