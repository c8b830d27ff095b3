"""Password hashing: argon2id for new hashes, the original's Werkzeug formats still verify.

Every hash and verify runs off the event loop, on the hashing threads of
``gateway.auth.hashing``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar, TypeVar

from passlib.context import CryptContext
from passlib.ifc import PasswordHash

from gateway.auth.hashing import Hashing, HashingSlots, SharedCores, ThreadPool

T = TypeVar("T")


class _WerkzeugHash(PasswordHash):
    """Verify-only handler for one of the formats Werkzeug's generate_password_hash wrote."""

    setting_kwds: ClassVar[tuple[str, ...]] = ()
    context_kwds: ClassVar[tuple[str, ...]] = ()
    name: ClassVar[str]
    prefix: ClassVar[str]

    @classmethod
    def identify(cls, hash: str | bytes) -> bool:
        text = hash.decode() if isinstance(hash, bytes) else hash
        return text.startswith(cls.prefix) and text.count("$") == 2

    @classmethod
    def hash(cls, secret: str | bytes, **kwds: Any) -> str:
        raise NotImplementedError(f"{cls.name} is verify-only; new hashes are argon2")

    @classmethod
    def verify(cls, secret: str | bytes, hash: str | bytes, **context_kwds: Any) -> bool:
        text = hash.decode() if isinstance(hash, bytes) else hash
        password = secret.encode() if isinstance(secret, str) else secret
        method, salt, expected = text.split("$")
        try:
            actual = cls.digest(method, salt.encode(), password)
        except (ValueError, OverflowError, MemoryError):
            return False  # a malformed method part in a stored hash is a failed login
        return hmac.compare_digest(actual, expected)

    @classmethod
    def digest(cls, method: str, salt: bytes, password: bytes) -> str:
        raise NotImplementedError

    @classmethod
    def using(cls, relaxed: bool = False, **settings: Any) -> type[_WerkzeugHash]:
        # CryptContext wants a distinct variant per category; there is nothing to set.
        return type(cls.__name__, (cls,), {})

    @classmethod
    def needs_update(cls, hash: str | bytes, secret: str | bytes | None = None) -> bool:
        return True

    @classmethod
    def genconfig(cls, **kwds: Any) -> str:
        raise NotImplementedError

    @classmethod
    def genhash(cls, secret: str | bytes, config: str, **context: Any) -> str:
        raise NotImplementedError


class werkzeug_sha256(_WerkzeugHash):
    """``sha256$salt$hex``: HMAC-SHA256 of the password keyed by the salt (Werkzeug < 2.3)."""

    name = "werkzeug_sha256"
    prefix = "sha256$"

    @classmethod
    def digest(cls, method: str, salt: bytes, password: bytes) -> str:
        return hmac.new(salt, password, hashlib.sha256).hexdigest()


class werkzeug_pbkdf2(_WerkzeugHash):
    """``pbkdf2:HASH[:ITERATIONS]$salt$hex``."""

    name = "werkzeug_pbkdf2"
    prefix = "pbkdf2:"
    default_iterations = 150_000  # Werkzeug 1.0's, for hashes that do not name a count

    @classmethod
    def digest(cls, method: str, salt: bytes, password: bytes) -> str:
        _, hash_name, *rest = method.split(":")
        iterations = int(rest[0]) if rest else cls.default_iterations
        return hashlib.pbkdf2_hmac(hash_name, password, salt, iterations).hex()


class werkzeug_scrypt(_WerkzeugHash):
    """``scrypt:N:r:p$salt$hex`` (Werkzeug ≥ 3.0)."""

    name = "werkzeug_scrypt"
    prefix = "scrypt:"

    @classmethod
    def digest(cls, method: str, salt: bytes, password: bytes) -> str:
        _, n, r, p = method.split(":")
        cost, block, lanes = int(n), int(r), int(p)
        maxmem = 132 * cost * block * lanes
        return hashlib.scrypt(password, salt=salt, n=cost, r=block, p=lanes, maxmem=maxmem).hex()


class Passwords:
    """The CryptContext for one set of argon2 parameters, used only off the event loop."""

    def __init__(
        self,
        *,
        memory_kib: int,
        time_cost: int,
        parallelism: int,
        threads: int = 0,
        slots: HashingSlots | None = None,
    ) -> None:
        """``threads``: how many threads hash (0: one per core); ``slots``: the cores
        they share with other processes' hashing threads, if any."""
        threads = threads or os.cpu_count() or 1
        self._hashing: Hashing = (
            ThreadPool(threads) if slots is None else SharedCores(threads, slots)
        )
        self.context = CryptContext(
            schemes=["argon2", werkzeug_scrypt, werkzeug_pbkdf2, werkzeug_sha256],
            default="argon2",
            deprecated="auto",
            argon2__type="ID",
            argon2__memory_cost=memory_kib,
            argon2__rounds=time_cost,
            argon2__parallelism=parallelism,
        )
        self._dummy: str | None = None

    async def hash(self, password: str) -> str:
        return await self._off_loop(self.context.hash, password)

    async def verify(self, password: str, stored: str | None) -> tuple[bool, str | None]:
        """(matches, new hash to store or None). A stored hash that is empty,
        unknown or malformed is a failed match, never an error."""
        if not stored:
            await self.verify_dummy(password)
            return False, None
        return await self._off_loop(self._verify_and_update, password, stored)

    async def warm(self) -> None:
        """Hash once on every hashing thread, as a worker starts. argon2's memory (19 MiB
        with the default parameters) stays with the thread that used it, so a worker
        takes at start what it will keep; otherwise a thread that hashed for the first
        time hours later (the second core's, when a storm's connections all landed on
        this worker) would add its share then. The hash is the one ``verify_dummy``
        uses."""
        dummies: list[str] = []
        await self._hashing.on_every_thread(
            lambda: dummies.append(self.context.hash(secrets.token_urlsafe(16)))
        )
        self._dummy = self._dummy or dummies[0]

    async def verify_dummy(self, password: str) -> None:
        """Spend the time of a real verify, so an unknown username answers no faster."""
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        await self._off_loop(self.context.verify, password, self._dummy)

    async def _off_loop(self, func: Callable[..., T], *args: Any) -> T:
        return await self._hashing.run(partial(func, *args))

    def _verify_and_update(self, password: str, stored: str) -> tuple[bool, str | None]:
        try:
            return self.context.verify_and_update(password, stored)
        except (ValueError, TypeError):
            return False, None
