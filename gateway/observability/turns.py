"""Work done once per turn of the event loop, however many requests asked for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class OncePerTurn:
    """Runs ``action`` at the start of the next turn of the running event loop, once
    however many times ``ask`` is called during this turn; at once where no loop runs
    (another thread, or outside a server). Under load a turn answers many requests, and
    what each would have written on its own (metrics, log lines) is written together."""

    def __init__(self, action: Callable[[], None]) -> None:
        self._action = action
        self._loop: asyncio.AbstractEventLoop | None = None  # whose next turn runs it

    def ask(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.run()
            return
        if self._loop is not loop:
            self._loop = loop
            loop.call_soon(self.run)

    def run(self) -> None:
        """The action, now (also what a scrape or an exit calls to catch up)."""
        self._loop = None
        self._action()
