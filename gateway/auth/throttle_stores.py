"""Where the login throttle keeps its counts: this process (``MemoryStore``), or Redis
(``RedisStore``, shared by every worker and instance)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as redis


@dataclass(frozen=True, slots=True)
class Keys:
    """The store keys of one login attempt."""

    pair: str
    address: str
    username: str
    known: str


@dataclass(frozen=True, slots=True)
class Count:
    failures: int
    seconds_left: float


NONE = Count(0, 0.0)


@dataclass(frozen=True, slots=True)
class Reading:
    pair: Count
    address: Count
    username: Count
    known: bool


class Store(Protocol):
    """Where counts live; each method is one round trip."""

    async def read(self, keys: Keys) -> Reading: ...

    async def failed(self, keys: Keys, *, window: int) -> None:
        """One more failure on the three counters, each starting its window at its first."""

    async def succeeded(self, keys: Keys, *, known_seconds: int) -> None:
        """Clear the pair's counter and remember the pair as known."""

    async def aclose(self) -> None: ...


class _Expiring:
    """A dict of values with expiry times, at most ``max_keys`` long: when full, expired
    entries are pruned, then the oldest dropped (memory stays bounded whatever an
    attacker sprays)."""

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self.entries: dict[str, tuple[int, float]] = {}  # key -> (value, expires_at)

    def get(self, key: str, now: float) -> tuple[int, float]:
        value, expires_at = self.entries.get(key, (0, now))
        return (value, expires_at) if expires_at > now else (0, now)

    def put(self, key: str, value: int, expires_at: float, now: float) -> None:
        if key not in self.entries and len(self.entries) >= self.max_keys:
            for old in [k for k, (_, at) in self.entries.items() if at <= now]:
                del self.entries[old]
            while len(self.entries) >= self.max_keys:
                del self.entries[next(iter(self.entries))]  # dicts keep insertion order
        self.entries[key] = (value, expires_at)


class MemoryStore:
    """Counts in this process. Known pairs have their own bound, so failures sprayed to
    fill the counters can never push a known pair out."""

    def __init__(self, *, max_keys: int = 100_000) -> None:
        self.counters = _Expiring(max_keys)
        self.known = _Expiring(max_keys)

    async def read(self, keys: Keys) -> Reading:
        now = time.monotonic()

        def count(key: str) -> Count:
            failures, expires_at = self.counters.get(key, now)
            return Count(failures, expires_at - now) if failures else NONE

        return Reading(
            count(keys.pair),
            count(keys.address),
            count(keys.username),
            self.known.get(keys.known, now)[0] > 0,
        )

    async def failed(self, keys: Keys, *, window: int) -> None:
        now = time.monotonic()
        for key in (keys.pair, keys.address, keys.username):
            failures, expires_at = self.counters.get(key, now)
            if not failures:
                self.counters.entries.pop(key, None)  # a new window, at the end of the order
                expires_at = now + window
            self.counters.put(key, failures + 1, expires_at, now)

    async def succeeded(self, keys: Keys, *, known_seconds: int) -> None:
        now = time.monotonic()
        self.counters.entries.pop(keys.pair, None)
        self.known.entries.pop(keys.known, None)
        self.known.put(keys.known, 1, now + known_seconds, now)

    async def aclose(self) -> None:
        self.counters.entries.clear()
        self.known.entries.clear()


class RedisStore:
    """Counts in Redis, shared by every process that uses the same server (the client
    of gateway.stores; an unreachable Redis makes the throttle fail open)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    async def read(self, keys: Keys) -> Reading:
        async with self.client.pipeline(transaction=False) as pipe:
            for key in (keys.pair, keys.address, keys.username):
                pipe.get(key)
                pipe.pttl(key)
            pipe.exists(keys.known)
            *replies, known = await pipe.execute()
        pair, address, username = (
            Count(int(raw), ttl_ms / 1000) if raw is not None and ttl_ms > 0 else NONE
            for raw, ttl_ms in zip(replies[::2], replies[1::2], strict=True)
        )
        return Reading(pair, address, username, known=bool(known))

    async def failed(self, keys: Keys, *, window: int) -> None:
        # SET NX EX starts a window only at its first failure; INCR keeps the TTL. One
        # MULTI/EXEC, so no counter is ever left counting without an expiry.
        async with self.client.pipeline(transaction=True) as pipe:
            for key in (keys.pair, keys.address, keys.username):
                pipe.set(key, 0, ex=window, nx=True)
                pipe.incr(key)
            await pipe.execute()

    async def succeeded(self, keys: Keys, *, known_seconds: int) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(keys.pair)
            pipe.set(keys.known, 1, ex=known_seconds)
            await pipe.execute()

    async def aclose(self) -> None:
        pass  # the client is the app's, closed with it
