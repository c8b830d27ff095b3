"""The one Redis client of a process (REDIS_URL), shared by the login throttle's counts and
the persisted GraphQL queries. Short socket timeouts keep a slow Redis from stalling a
request: each user of the client decides what an unreachable Redis means for it."""

from __future__ import annotations

import redis.asyncio as redis

from gateway.settings import Settings

TIMEOUT = 0.5  # seconds, to connect and for each command


def redis_client(settings: Settings) -> redis.Redis | None:
    """A client for REDIS_URL, or None when it is unset (each process keeps its own)."""
    if not settings.redis_url:
        return None
    return redis.Redis.from_url(
        settings.redis_url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT
    )
