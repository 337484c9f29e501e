"""Heavy admin checks as background jobs: one at a time per member of staff, progress shown.

A job's work is a list of items and a step per item. It runs as a task on the event loop in time
slices (``SLICE`` seconds of steps, then as long a rest), so a replay of 100,000 sessions never
holds the loop for more than a few milliseconds at a time and takes at most half of it: no thread
fighting the loop for the GIL, nothing to cancel across threads. A member of staff has at most
one job; asking again while it runs shows that job. At most ``MAX_RUNNING`` jobs run in all.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

SLICE = 0.005  # seconds of work, then as long a rest: a request needs several loop turns, and in
# the rest they all run (yielding for one turn only put ~16 ms on every /healthz under load)
MAX_RUNNING = 2


class Busy(Exception):
    """Too many jobs are running: try again shortly."""


@dataclass
class Job:
    """One background job; ``result`` is set when it finishes, ``error`` when it failed."""

    owner: str
    kind: str
    total: int
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    result: Any = None
    error: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.finished is None

    @property
    def percent(self) -> int:
        return 100 if not self.total else int(100 * self.done / self.total)

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started


class Jobs:
    """The jobs of one app (kept in the admin's state), the latest one per (owner, kind)."""

    def __init__(self, max_running: int = MAX_RUNNING, slice_seconds: float = SLICE) -> None:
        self.max_running = max_running
        self.slice = slice_seconds
        self._latest: dict[tuple[str, str], Job] = {}

    def latest(self, owner: str, kind: str) -> Job | None:
        return self._latest.get((owner, kind))

    def running(self) -> int:
        return sum(job.running for job in self._latest.values())

    def start(
        self,
        owner: str,
        kind: str,
        items: Sequence[Any],
        step: Callable[[Any], None],
        finish: Callable[[], Any],
    ) -> Job:
        """Run ``step`` on every item, then ``finish()`` as the result; the owner's running job
        of this kind instead, if there is one. ``Busy`` when too many jobs run."""
        current = self._latest.get((owner, kind))
        if current is not None and current.running:
            return current
        if self.running() >= self.max_running:
            raise Busy("Too many checks are running; try again in a moment")
        job = self._latest[(owner, kind)] = Job(owner, kind, len(items))
        job.task = asyncio.get_running_loop().create_task(self._run(job, items, step, finish))
        return job

    async def _run(
        self, job: Job, items: Sequence[Any], step: Callable[[Any], None], finish: Callable[[], Any]
    ) -> None:
        try:
            deadline = time.perf_counter() + self.slice
            for item in items:
                step(item)
                job.done += 1
                if time.perf_counter() >= deadline:
                    await asyncio.sleep(self.slice)  # every waiting request and frame goes through
                    deadline = time.perf_counter() + self.slice
            job.result = finish()
        except asyncio.CancelledError:
            job.error = "stopped"
            raise
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception("background job %s (%s) failed [%s]", job.kind, job.owner, ref)
            job.error = f"The check failed (reference {ref})"
        finally:
            job.finished = time.monotonic()

    async def stop(self) -> None:
        """Cancel every running job (the app is shutting down)."""
        tasks = [job.task for job in self._latest.values() if job.task is not None and job.running]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
