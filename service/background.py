"""One long-running task owned by an object (a feed, a purge loop): started once, stopped cleanly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Background:
    """Holds at most one task; ``stop`` cancels it and waits until it has ended."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._task: asyncio.Task[None] | None = None

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        if self._task is not None:
            work.close()  # already running: never two copies of one loop
            return
        self._task = asyncio.create_task(work, name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


async def every(
    interval: float, action: Callable[[], Awaitable[object]], what: str, *, wait_first: bool = False
) -> None:
    """Run ``action`` now (or after ``interval`` with ``wait_first``) and then every ``interval``
    seconds; a failure is logged, the loop goes on."""
    if wait_first:
        await asyncio.sleep(interval)
    while True:
        try:
            await action()
        except Exception:
            log.exception("could not %s", what)
        await asyncio.sleep(interval)
