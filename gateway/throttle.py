"""Login throttling: failed sign-ins counted per username and per client address.

A counter starts at a key's first failure and lives ``LOGIN_WINDOW_SECONDS``
(a fixed window). Once a counter reaches its limit, every login for that
username (or from that address) answers 429 until the window ends, checked
*before* the password, so a locked account costs no argon2 work and a right
guess during the lock is refused like a wrong one. A success clears the
username's counter only: an attacker who owns one account cannot wash out the
address counter by signing in between guesses.

Counts live in this process (``MemoryStore``) or, with ``REDIS_URL``, in Redis
(``RedisStore``) so every worker and instance shares them. If Redis cannot be
reached the throttle fails open (logs a warning, lets the login through):
argon2 still prices every guess, and a Redis outage must not lock everyone out.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError

from gateway.errors import TooManyRequests
from gateway.settings import Settings

log = logging.getLogger("gateway.throttle")

TOO_MANY_ATTEMPTS = "Too many login attempts"
KEY_PREFIX = "gateway:login:"


class Store(Protocol):
    """Counters with a time to live; every method takes several keys at once."""

    async def counts(self, keys: Sequence[str]) -> list[tuple[int, float]]:
        """(count, seconds left) per key; (0, 0) for a key with no live counter."""

    async def add(self, keys: Sequence[str], *, window: int) -> None:
        """Add one to each key, starting a ``window``-second life at its first count."""

    async def clear(self, key: str) -> None: ...

    async def aclose(self) -> None: ...


class MemoryStore:
    """Counters in a dict: for one process. At most ``max_keys`` live counters; when
    full, expired ones are pruned, then the oldest dropped (memory stays bounded
    whatever an attacker sprays)."""

    def __init__(self, *, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._counters: dict[str, tuple[int, float]] = {}  # key -> (count, expires_at)

    async def counts(self, keys: Sequence[str]) -> list[tuple[int, float]]:
        now = time.monotonic()
        result = []
        for key in keys:
            count, expires_at = self._counters.get(key, (0, now))
            result.append((count, expires_at - now) if expires_at > now else (0, 0.0))
        return result

    async def add(self, keys: Sequence[str], *, window: int) -> None:
        now = time.monotonic()
        for key in keys:
            count, expires_at = self._counters.get(key, (0, now))
            if expires_at <= now:
                self._counters.pop(key, None)
                count, expires_at = 0, now + window
                self._make_room(now)
            self._counters[key] = (count + 1, expires_at)

    async def clear(self, key: str) -> None:
        self._counters.pop(key, None)

    async def aclose(self) -> None:
        self._counters.clear()

    def _make_room(self, now: float) -> None:
        if len(self._counters) < self.max_keys:
            return
        for key in [k for k, (_, expires_at) in self._counters.items() if expires_at <= now]:
            del self._counters[key]
        while len(self._counters) >= self.max_keys:
            del self._counters[next(iter(self._counters))]  # dicts keep insertion order


class RedisStore:
    """Counters in Redis, shared by every process that uses the same URL. Short socket
    timeouts keep a slow Redis from stalling logins (the throttle then fails open)."""

    def __init__(self, url: str, *, timeout: float = 0.5) -> None:
        self.client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )

    async def counts(self, keys: Sequence[str]) -> list[tuple[int, float]]:
        async with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(key)
                pipe.pttl(key)
            replies = await pipe.execute()
        result = []
        for raw, ttl_ms in zip(replies[::2], replies[1::2], strict=True):
            alive = raw is not None and ttl_ms > 0
            result.append((int(raw), ttl_ms / 1000) if alive else (0, 0.0))
        return result

    async def add(self, keys: Sequence[str], *, window: int) -> None:
        # SET NX EX starts the window only at the first failure; INCR keeps the TTL.
        # One MULTI/EXEC, so no key is ever left counting without an expiry.
        async with self.client.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.set(key, 0, ex=window, nx=True)
                pipe.incr(key)
            await pipe.execute()

    async def clear(self, key: str) -> None:
        await self.client.delete(key)

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass(frozen=True)
class Limits:
    per_username: int
    per_address: int
    window_seconds: int


class LoginThrottle:
    """The login rule's counters; ``users.login`` calls ``check`` before verifying,
    then ``failed`` or ``succeeded``."""

    def __init__(self, store: Store, limits: Limits) -> None:
        self.store = store
        self.limits = limits
        self._warned_at = -math.inf

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginThrottle:
        store: Store = RedisStore(settings.redis_url) if settings.redis_url else MemoryStore()
        return cls(
            store,
            Limits(
                per_username=settings.login_max_failures,
                per_address=settings.login_max_failures_per_address,
                window_seconds=settings.login_window_seconds,
            ),
        )

    async def check(self, *, username: str, address: str | None) -> None:
        """TooManyRequests with ``Retry-After`` while either counter is at its limit."""
        keys = self._keys(username, address)
        limits = [self.limits.per_username, self.limits.per_address][: len(keys)]
        try:
            counts = await self.store.counts(keys)
        except (RedisError, OSError) as exc:
            self._fail_open(exc)
            return
        waits = [left for (count, left), limit in zip(counts, limits, strict=True)
                 if count >= limit]
        if waits:
            retry_after = max(1, math.ceil(max(waits)))
            raise TooManyRequests(TOO_MANY_ATTEMPTS, headers={"Retry-After": str(retry_after)})

    async def failed(self, *, username: str, address: str | None) -> None:
        try:
            await self.store.add(
                self._keys(username, address), window=self.limits.window_seconds
            )
        except (RedisError, OSError) as exc:
            self._fail_open(exc)

    async def succeeded(self, *, username: str) -> None:
        try:
            await self.store.clear(self._keys(username, None)[0])
        except (RedisError, OSError) as exc:
            self._fail_open(exc)

    async def aclose(self) -> None:
        await self.store.aclose()

    @staticmethod
    def _keys(username: str, address: str | None) -> list[str]:
        # casefold: MySQL's default collation finds "Admin" for "admin"; hashing bounds the
        # key's size whatever the request sent.
        name = hashlib.sha256(username.casefold().encode("utf-8", "replace")).hexdigest()[:32]
        keys = [f"{KEY_PREFIX}user:{name}"]
        if address:
            keys.append(f"{KEY_PREFIX}addr:{address}")
        return keys

    def _fail_open(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 60:  # one line a minute, not one per login
            self._warned_at = now
            log.warning("login throttle store unavailable, not throttling: %r", exc)
