"""Login throttling: failed sign-ins slow the guesser down and lock out no one else.

Three counters of failures, each a fixed window of ``LOGIN_WINDOW_SECONDS`` from its
first failure, and one memory of who signed in where:

    counter                      limit (default)                        refuses
    (username, address) pair     LOGIN_MAX_FAILURES (5)                 that pair only
    address, any username        LOGIN_MAX_FAILURES_PER_ADDRESS (100)   new pairs at the address
    username, any address        LOGIN_MAX_FAILURES_PER_USERNAME (100)  new pairs for the name
    known pair: a success of the username from the address, kept LOGIN_KNOWN_SECONDS (30 days)

The pair counter is the lock a guesser meets: five wrong passwords for one account from
one address, and that address waits out the window for that account; the same account
from another address, and other accounts from the same address, go on. The two wide
counters bound spraying many usernames from one address and guessing one account from
many addresses; they refuse only pairs that are not known, so the owner at an address
they signed in from before, and colleagues behind the same NAT who signed in before, are
never locked out by someone else's failures (OWASP's "device cookie", keyed on the
address). A brand-new pair during such an attack waits out the window.

Every check happens *before* the password is verified, so a refused login costs no
argon2 work and a right guess during a lock is refused like a wrong one. Unknown
usernames are counted like known ones, and every refusal is the same 429, so none
tells which usernames exist. A success clears its pair's counter only: owning one
account must not wash out an address's count between guesses.

Counts live in this process (``MemoryStore``, bounded) or, with ``REDIS_URL``, in Redis
(``RedisStore``) so every worker and instance shares them. If Redis cannot be reached
the throttle fails open (a warning a minute, logins go on): argon2 still prices every
guess, and an outage of an auxiliary store must not lock everyone out.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

import redis.asyncio as redis
from redis.exceptions import RedisError

from gateway.auth.throttle_stores import Keys, MemoryStore, RedisStore, Store
from gateway.errors import TooManyRequests
from gateway.settings import Settings

log = logging.getLogger("gateway.auth.throttle")

TOO_MANY_ATTEMPTS = "Too many login attempts"
KEY_PREFIX = "gateway:login:"
UNKNOWN_ADDRESS = "-"  # a server that gives no peer address (a Unix socket): one bucket


@dataclass(frozen=True)
class Limits:
    per_pair: int
    per_address: int
    per_username: int
    window_seconds: int
    known_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            per_pair=settings.login_max_failures,
            per_address=settings.login_max_failures_per_address,
            per_username=settings.login_max_failures_per_username,
            window_seconds=settings.login_window_seconds,
            known_seconds=settings.login_known_seconds,
        )


class LoginThrottle:
    """The login rule's counters; ``users.login`` calls ``check`` before verifying,
    then ``failed`` or ``succeeded``."""

    def __init__(self, store: Store, limits: Limits) -> None:
        self.store = store
        self.limits = limits
        self._warned_at = -math.inf

    @classmethod
    def from_settings(cls, settings: Settings, client: redis.Redis | None) -> LoginThrottle:
        """Counts in Redis when the app has a client for REDIS_URL, else in this process."""
        store: Store = RedisStore(client) if client is not None else MemoryStore()
        return cls(store, Limits.from_settings(settings))

    async def check(self, *, username: str, address: str | None) -> None:
        """TooManyRequests with ``Retry-After`` while the pair is locked, or while a wide
        counter is full and the pair is not known."""
        try:
            reading = await self.store.read(_keys(username, address))
        except (RedisError, OSError) as exc:
            self._fail_open(exc)
            return
        limits = self.limits
        full = [(reading.pair, limits.per_pair)]
        if not reading.known:
            full += [(reading.address, limits.per_address),
                     (reading.username, limits.per_username)]
        waits = [count.seconds_left for count, limit in full if count.failures >= limit]
        if waits:
            retry_after = max(1, math.ceil(max(waits)))
            raise TooManyRequests(TOO_MANY_ATTEMPTS, headers={"Retry-After": str(retry_after)})

    async def failed(self, *, username: str, address: str | None) -> None:
        try:
            await self.store.failed(
                _keys(username, address), window=self.limits.window_seconds
            )
        except (RedisError, OSError) as exc:
            self._fail_open(exc)

    async def succeeded(self, *, username: str, address: str | None) -> None:
        try:
            await self.store.succeeded(
                _keys(username, address), known_seconds=self.limits.known_seconds
            )
        except (RedisError, OSError) as exc:
            self._fail_open(exc)

    async def aclose(self) -> None:
        await self.store.aclose()

    def _fail_open(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 60:  # one line a minute, not one per login
            self._warned_at = now
            log.warning("login throttle store unavailable, not throttling: %r", exc)


def _keys(username: str, address: str | None) -> Keys:
    # casefold: MySQL's default collation finds "Admin" for "admin"; hashing bounds the
    # key's size whatever the request sent.
    name = hashlib.sha256(username.casefold().encode("utf-8", "replace")).hexdigest()[:32]
    where = address or UNKNOWN_ADDRESS
    return Keys(
        pair=f"{KEY_PREFIX}pair:{name}:{where}",
        address=f"{KEY_PREFIX}addr:{where}",
        username=f"{KEY_PREFIX}user:{name}",
        known=f"{KEY_PREFIX}known:{name}:{where}",
    )
