"""Password hashing: argon2id for new hashes, the original's Werkzeug formats still verify.

Every hash and verify runs on one of a few dedicated threads, so neither the event loop
nor memory (19 MiB per argon2 call) is swamped by a login storm: glibc keeps a freed
19 MiB block in the arena of the thread that used it, so the number of threads that ever
hash bounds the memory a worker keeps (a thread per login, as a shared worker-thread
pool would give, kept ~250 MB per worker in the benchmark).

Hashing is all CPU, so no more passwords are best hashed at once than there are cores:
more hash no faster, and every event loop then waits its turn for a core behind them.
A worker has a thread per core (``PASSWORD_HASHING_THREADS``), and the workers that
``gateway serve`` starts share the cores through ``HashingSlots``: a thread hashes only
while it holds one of them, one per core, whichever worker it is in. The connections of
a burst often all land on one worker, and that worker then still hashes on every core.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import logging
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import cache, partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

try:
    import fcntl
except ImportError:  # not POSIX: each worker hashes on its own share of the cores
    fcntl = None  # type: ignore[assignment]

from passlib.context import CryptContext
from passlib.ifc import PasswordHash

T = TypeVar("T")
log = logging.getLogger("gateway")

HASHING_NICENESS = 10  # where SCHED_IDLE is not available

# Set by ``gateway serve`` for its workers: the folder of the hashing slots they share.
SLOTS_ENV = "GATEWAY_HASHING_SLOTS"
SLOTS_SUPPORTED = fcntl is not None  # file locks (POSIX)


def _yield_to_the_loop() -> None:
    """Each hashing thread runs only on cycles nothing else wants (Linux schedules
    threads on their own, and ``SCHED_IDLE`` is the policy for such work): during a login
    storm the hashing still takes every idle cycle, but an event loop with a request to
    answer gets a core at once. Under nice 10 instead, the scheduler still gave the
    hashing a share when a request arrived: with the cores busy hashing, /healthz took
    1–4 ms at the 99th percentile where it takes 0.7 ms idle; under SCHED_IDLE, 0.7 ms."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # 0: this thread
        return
    except (AttributeError, OSError):  # not Linux
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)
    except (AttributeError, OSError):  # not allowed either: hash at normal priority
        pass


@cache
def _hashing(threads: int) -> ThreadPoolExecutor:
    """The hashing threads of this process (one pool per size; a worker has one size)."""
    return ThreadPoolExecutor(
        max_workers=threads, thread_name_prefix="argon2", initializer=_yield_to_the_loop
    )


class HashingSlots:
    """The cores, shared by the hashing threads of every worker: one lock file per core
    in a folder, and a thread hashes only while it holds an exclusive ``flock`` on one.

    Each thread opens the files itself (a lock belongs to an open file, so threads of one
    worker must not share one) and tries them in its own order, starting at its own
    slot, without waiting; when every slot is taken, it waits for its own. The kernel
    drops the locks of a worker that dies."""

    def __init__(self, folder: str | Path) -> None:
        self._paths = sorted(Path(folder).glob("slot-*"))
        self._ordinals = itertools.count()
        self._local = threading.local()
        self._warning = threading.Lock()
        self._warned = False

    def __len__(self) -> int:
        return len(self._paths)

    @staticmethod
    @contextmanager
    def made(cores: int) -> Iterator[Path]:
        """A temporary folder of ``cores`` slots, removed at the end."""
        folder = Path(tempfile.mkdtemp(prefix="gateway-hashing-"))
        try:
            for core in range(cores):
                (folder / f"slot-{core}").touch()
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold a slot for as long as the block runs (a wait, so never on the loop)."""
        slot = self._claim()
        try:
            yield
        finally:
            if slot is not None:
                fcntl.flock(slot, fcntl.LOCK_UN)

    def _claim(self) -> int | None:
        """A free slot, else this thread's own once it is free. None if the slots' files
        are gone (removed by a cleaner of temporary files, say): the hash then goes
        ahead without one rather than fail the sign-in."""
        try:
            mine = self._opened()
        except OSError as exc:
            mine = []
            reason = str(exc)
        else:
            reason = "no slot files"
        if not mine:
            with self._warning:  # once, whichever thread finds out first
                warn, self._warned = not self._warned, True
            if warn:
                log.warning("password hashing slots unavailable (%s): hashing without", reason)
            return None
        slot = next((fd for fd in mine if _locked_now(fd)), None)
        if slot is None:
            slot = mine[0]
            fcntl.flock(slot, fcntl.LOCK_EX)
        return slot

    def _opened(self) -> list[int]:
        """This thread's descriptors of the slots, its own first."""
        mine: list[int] | None = getattr(self._local, "slots", None)
        if mine is None:
            first = next(self._ordinals) % max(1, len(self._paths))
            order = self._paths[first:] + self._paths[:first]
            mine = []
            try:
                for path in order:
                    mine.append(os.open(path, os.O_RDWR))
            except OSError:
                for fd in mine:
                    os.close(fd)
                raise
            self._local.slots = mine
        return mine


def _locked_now(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@cache
def shared_slots() -> HashingSlots | None:
    """The slots ``gateway serve`` made for its workers, if this process is one."""
    folder = os.environ.get(SLOTS_ENV)
    return HashingSlots(folder) if folder and SLOTS_SUPPORTED else None


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
        self._threads = _hashing(threads or os.cpu_count() or 1)
        self._slots = slots
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

    async def verify_dummy(self, password: str) -> None:
        """Spend the time of a real verify, so an unknown username answers no faster."""
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        await self._off_loop(self.context.verify, password, self._dummy)

    async def _off_loop(self, func: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, partial(self._run, func, *args))

    def _run(self, func: Callable[..., T], *args: Any) -> T:
        """On a hashing thread: ``func``, in one of the shared slots if there are any."""
        if self._slots is None:
            return func(*args)
        with self._slots.held():
            return func(*args)

    def _verify_and_update(self, password: str, stored: str) -> tuple[bool, str | None]:
        try:
            return self.context.verify_and_update(password, stored)
        except (ValueError, TypeError):
            return False, None
