"""Where passwords are hashed: on a few dedicated threads, never on the event loop.

Neither the event loop nor memory (19 MiB per argon2 call) may be swamped by a login
storm: glibc keeps a freed 19 MiB block in the arena of the thread that used it, so the
number of threads that ever hash bounds the memory a worker keeps (a thread per login,
as a shared worker-thread pool would give, kept ~250 MB per worker in the benchmark).

Hashing is all CPU, so no more passwords are best hashed at once than there are cores:
more hash no faster, and every event loop then waits its turn for a core behind them.
A process on its own hashes on a thread per core (``ThreadPool``). The workers that
``gateway serve`` starts share the cores through ``HashingSlots``, one per core: a
thread hashes only while it holds one, whichever worker it is in (``SharedCores``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from functools import cache, partial
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

try:
    import fcntl
except ImportError:  # not POSIX: each worker hashes on its own share of the cores
    fcntl = None  # type: ignore[assignment]

T = TypeVar("T")
log = logging.getLogger("gateway")

HASHING_NICENESS = 10  # where SCHED_IDLE is not available
THREAD_NAME = "argon2"

# Set by ``gateway serve`` for its workers: the folder of the hashing slots they share.
SLOTS_ENV = "GATEWAY_HASHING_SLOTS"
SLOTS_SUPPORTED = fcntl is not None  # file locks (POSIX)


def yield_to_the_loop() -> None:
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


class Hashing(Protocol):
    async def run(self, call: Callable[[], T]) -> T:
        """``call()`` on a hashing thread; its result or its exception."""

    async def on_every_thread(self, call: Callable[[], Any]) -> None:
        """``call()`` once on each hashing thread (see ``Passwords.warm``)."""


class ThreadPool:
    """A process that has the cores to itself: ``threads`` threads hash, as many
    passwords at once."""

    def __init__(self, threads: int) -> None:
        self._count = threads
        self._threads = _pool(threads)

    async def run(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, call)

    async def on_every_thread(self, call: Callable[[], Any]) -> None:
        await _on_each(self._threads, self._count, call)


async def _on_each(threads: ThreadPoolExecutor, count: int, call: Callable[[], Any]) -> None:
    """``call()`` on each of the ``count`` threads of ``threads``: every call waits for
    the others to be done before its thread is free again, so none runs twice on one
    thread (the executor starts a thread for each call while none is free)."""
    together = threading.Barrier(count)

    def once() -> None:
        call()
        with suppress(threading.BrokenBarrierError):
            together.wait(timeout=60)

    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(threads, once) for _ in range(count)))


@cache
def _pool(threads: int) -> ThreadPoolExecutor:
    """The hashing threads of this process (one pool per size; a worker has one size)."""
    return ThreadPoolExecutor(threads, THREAD_NAME, initializer=yield_to_the_loop)


class Slot(NamedTuple):
    """One core, through a caller's own descriptors: ``lock`` is held (exclusively) by
    the thread hashing on that core; ``want`` (shared) by each home thread waiting for
    it, so that no other thread takes it first (see ``SharedCores``)."""

    lock: int
    want: int


class HashingSlots:
    """The cores, shared by the hashing threads of every worker: a pair of lock files per
    core in a folder, and a thread hashes only while it holds an exclusive ``flock`` on
    the core's ``slot-N``.

    A lock belongs to an open file, so every holder opens the files itself (a ``Seat``
    each: the home thread's, and one per other thread). The kernel drops the locks of
    a worker that dies. If the files are gone (a cleaner of temporary files removed the
    folder under a running server), a hash goes ahead without a slot rather than fail
    the sign-in, and one warning says so."""

    def __init__(self, folder: str | Path) -> None:
        self._folder = Path(folder)
        self._cores = len(list(self._folder.glob("slot-*")))
        self._warning = threading.Lock()
        self._warned = False

    def __len__(self) -> int:
        return self._cores

    @staticmethod
    @contextmanager
    def made(cores: int) -> Iterator[Path]:
        """A temporary folder of ``cores`` slots, removed at the end."""
        folder = Path(tempfile.mkdtemp(prefix="gateway-hashing-"))
        try:
            for core in range(cores):
                (folder / f"slot-{core}").touch()
                (folder / f"want-{core}").touch()
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def opened(self, first: int = 0) -> list[Slot]:
        """Every slot, through descriptors of the caller's own, in the order starting at
        slot ``first``; none if the files are gone (and the warning, once)."""
        order = [(first + n) % max(1, self._cores) for n in range(self._cores)]
        slots: list[Slot] = []
        try:
            for core in order:
                lock = os.open(self._folder / f"slot-{core}", os.O_RDWR)
                try:
                    want = os.open(self._folder / f"want-{core}", os.O_RDWR)
                except OSError:
                    os.close(lock)
                    raise
                slots.append(Slot(lock, want))
        except OSError as exc:
            for slot in slots:
                os.close(slot.lock)
                os.close(slot.want)
            self._gone(str(exc))
            return []
        if not slots:
            self._gone("no slot files")
        return slots

    def _gone(self, reason: str) -> None:
        with self._warning:  # once, whichever thread finds out first
            warn, self._warned = not self._warned, True
        if warn:
            log.warning("password hashing slots unavailable (%s): hashing without", reason)


def free_slot(slots: list[Slot]) -> Slot | None:
    """The first of ``slots`` that nobody holds or waits for, now locked; None if there
    is none. Never waits."""
    for slot in slots:
        if wanted(slot):
            continue
        try:
            fcntl.flock(slot.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue
        return slot
    return None


def wanted(slot: Slot) -> bool:
    """Whether a home thread is waiting for this slot. Never waits."""
    try:
        fcntl.flock(slot.want, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(slot.want, fcntl.LOCK_UN)
    return False


@cache
def shared_slots() -> HashingSlots | None:
    """The slots ``gateway serve`` made for its workers, if this process is one."""
    folder = os.environ.get(SLOTS_ENV)
    return HashingSlots(folder) if folder and SLOTS_SUPPORTED else None


class SharedCores:
    """A worker's hashing when it shares the cores with other workers: one home thread,
    and ``threads - 1`` others that take work the home thread has not started, but only
    in a slot no thread is hashing in or waiting for.

    The home thread hashes the worker's passwords in turn. It takes a free slot, or
    waits for the one it held last (saying so: ``want``), and keeps it from one hash to
    the next while more are waiting, unless a home thread of another worker waits for
    it. Whenever a hash is asked for or one is done, the event loop hands what the home
    thread will not start next to the other threads, each in a slot it takes without
    waiting (``Seat``), and none while every slot is held or waited for. So when a
    storm's connections are spread over the workers, each worker hashes on its home
    thread only and no other hashing thread is woken; when they all landed on one
    worker, that worker hashes on every core; and a worker that gets a login while
    another hashes on every core waits for one hash at most.

    Why not a thread per core that each wait for a slot: every end of a hash then woke a
    thread of another worker, waiting for that slot, to take the GIL and the core just as
    that worker's event loop was woken to answer, and `/healthz` took 4–7 ms at the 99th
    percentile during a storm where a thread per worker gave 1.5 ms, at the same rate of
    logins."""

    def __init__(self, threads: int, slots: HashingSlots) -> None:
        self._slots = slots
        self._waiting: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = (
            queue.SimpleQueue()
        )
        self._home_busy = False
        self._home_seat = Seat(slots, 0)
        home = threading.Thread(target=self._home, name=f"{THREAD_NAME}-home", daemon=True)
        home.start()
        self._seats = [Seat(slots, first) for first in range(1, threads)]
        self._others = ThreadPoolExecutor(
            max(1, threads - 1), THREAD_NAME, initializer=yield_to_the_loop
        )

    async def on_every_thread(self, call: Callable[[], Any]) -> None:
        """The home thread's call in a slot, the others' without (done as a worker
        starts, before it takes requests)."""
        job: Future[Any] = Future()
        self._waiting.put((job, call))
        waits: list[Awaitable[Any]] = [asyncio.wrap_future(job)]
        if self._seats:
            waits.append(_on_each(self._others, len(self._seats), call))
        await asyncio.gather(*waits)

    async def run(self, call: Callable[[], T]) -> T:
        job: Future[T] = Future()
        self._waiting.put((job, call))
        try:
            self._spread()
            return await asyncio.wrap_future(job)
        finally:
            self._spread()

    def _home(self) -> None:
        yield_to_the_loop()
        while True:
            job, call = self._waiting.get()
            self._home_busy = True
            try:
                self._in_turn(job, call)
            finally:
                self._home_busy = False

    def _in_turn(self, job: Future[Any], call: Callable[[], Any]) -> None:
        """On the home thread: this hash and those waiting after it, in one slot until
        none is left or a home thread of another worker waits for the slot."""
        seat = self._home_seat
        with seat.held() as slot:
            while True:
                if job.set_running_or_notify_cancel():
                    _outcome(job, call)()
                if slot is not None and wanted(slot):
                    break
                try:
                    job, call = self._waiting.get_nowait()
                except queue.Empty:
                    return
        seat.taken_by_the_waiting(slot)

    def _spread(self) -> None:
        """On the event loop: each hash the home thread will not start next goes to a
        free seat, in a slot taken without waiting, for as long as there are some."""
        while self._waiting.qsize() > (0 if self._home_busy else 1):
            try:
                seat = self._seats.pop()
            except IndexError:
                return
            slot = seat.claim()
            if slot is None:
                self._seats.append(seat)
                return
            try:
                job, call = self._waiting.get_nowait()
            except queue.Empty:  # the home thread took it meanwhile
                seat.release(slot)
                self._seats.append(seat)
                return
            self._others.submit(self._in_seat, seat, slot, job, call)

    def _in_seat(
        self, seat: Seat, slot: Slot, job: Future[Any], call: Callable[[], Any]
    ) -> None:
        """On one of the other threads: the hash, then the slot and the seat let go
        before the loop hears of the result (it then hands out what is waiting)."""
        settle: Callable[[], None] | None = None
        try:
            if job.set_running_or_notify_cancel():
                settle = _outcome(job, call)
        finally:
            seat.release(slot)
            self._seats.append(seat)
        if settle is not None:
            settle()


def _outcome(job: Future[Any], call: Callable[[], Any]) -> Callable[[], None]:
    """``call()``, and what tells ``job`` its result or its exception."""
    try:
        return partial(job.set_result, call())
    except BaseException as exc:
        return partial(job.set_exception, exc)


class Seat:
    """One holder's own descriptors of every slot (a lock belongs to an open file): the
    home thread's, which may wait for a slot, or one of the other threads', whose slot
    the event loop claims without waiting and the thread lets go."""

    def __init__(self, slots: HashingSlots, first: int) -> None:
        self._slots = slots
        self._first = first
        self._mine: list[Slot] | None = None
        self._last: Slot | None = None

    def claim(self) -> Slot | None:
        """A slot nobody holds or waits for, now this seat's; None if there is none."""
        if self._mine is None:
            self._mine = self._slots.opened(self._first)
        return free_slot(self._mine)

    @contextmanager
    def held(self) -> Iterator[Slot | None]:
        """Hold a slot for as long as the block runs: a free one, else the one held last,
        once it is free, saying meanwhile that it waits for it (a wait, so never on the
        event loop). None if the slots are gone."""
        slot = self.claim()
        if slot is None and self._mine:
            slot = self._last or self._mine[0]
            fcntl.flock(slot.want, fcntl.LOCK_SH)
            try:
                fcntl.flock(slot.lock, fcntl.LOCK_EX)
            finally:
                fcntl.flock(slot.want, fcntl.LOCK_UN)
        self._last = slot or self._last
        try:
            yield slot
        finally:
            if slot is not None:
                self.release(slot)

    @staticmethod
    def taken_by_the_waiting(slot: Slot) -> None:
        """Once a slot is let go because another thread waits for it: wait until every
        such thread has taken it, before this one may ask again (it was woken, but this
        one is running and would win the race)."""
        fcntl.flock(slot.want, fcntl.LOCK_EX)
        fcntl.flock(slot.want, fcntl.LOCK_UN)

    @staticmethod
    def release(slot: Slot) -> None:
        fcntl.flock(slot.lock, fcntl.LOCK_UN)
