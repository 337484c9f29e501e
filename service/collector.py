"""The garbage collector's tuning under ``planwise serve``, and the full collections it then needs.

``PLANWISE_GC_FREEZE`` moves everything loaded at start-up out of the collector's passes and makes
young collections rarer (``gc.set_threshold(20000, 125, 100)``): the full passes over thousands of
connections were the p99 latency spikes under load (docs/configuration.md). With those thresholds
a full collection practically never runs, so the few reference cycles a connection leaves when it
ends abruptly (uvicorn's transport and task objects of a connection cancelled mid-send: a few per
connection) were never freed: +0.5 KiB of RSS per abandoned opening, for as long as the process ran
(tests/service/test_hardening.py, 30,000 openings).

:class:`Collector` runs one full collection, soon after the fact and on the event loop, each time
as many WebSocket connections have ended as are open (at least :data:`EVERY`): its cost grows with
the open connections it scans and is spread over as many ended ones, so it stays a fixed share per
connection, and a server whose connections stay open (the 10,000-connection load) never pays it.

Python's own full collections are off (the third threshold is out of reach): Python runs one
whenever a quarter as many objects as the old generation holds have been promoted into it, and
with 10,000 sessions each replacing its kept update every few seconds that was every ~8 s, each a
pass over every session's objects (966-1,026 ms at 10,000 connections, ``bench/RESULTS.md``). What
they would free grows memory, so :class:`Collector` runs one itself when the process's allocated
memory blocks (``sys.getallocatedblocks``, checked every :data:`CHECK_SECONDS`) have grown by
:data:`GROWTH` since the last full collection, or since the lowest count seen after it: growth, not
churn, is what a full collection is for. Memory that only turns over (an update replacing the
previous one) never triggers it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time

log = logging.getLogger(__name__)

#: Ended connections between two full collections at the least.
EVERY = 1000
#: The tuned thresholds: young collections every 20,000 net allocations, the middle generation's every
#: 2,500,000. Each young collection's pause grows with the objects it scans: at 1,000 rules x 5,000
#: plans (~195 KB updates) 13-23 ms at 50,000, 5-11 ms at 20,000 (loop stall 22.5 -> 14.2 and 11.7 ms,
#: same update p50, bench/RESULTS.md); at 10,000 with the middle one every 100,000 that one took 28-35.
#: The third is out of reach: Python's own full collections are off (the module's docstring).
THRESHOLDS = (20_000, 125, 1_000_000_000)
#: How often the allocated blocks are checked (``sys.getallocatedblocks``: a walk over the
#: allocator's pools, ~1 ms in a 900 MiB process).
CHECK_SECONDS = 5.0
#: Growth of the allocated blocks since the last full collection (or the lowest count seen since)
#: that runs one: Python's own rule is a quarter of the old generation, promoted.
GROWTH = 0.25


class Collector:
    """Counts WebSocket connections (every transport's protocol reports here) and collects."""

    def __init__(
        self, every: int = EVERY, growth: float = GROWTH, check_seconds: float = CHECK_SECONDS
    ) -> None:
        self.every = every
        self.growth = growth
        self.check_seconds = check_seconds
        self.tuned = False
        self.open = 0
        self.ended = 0  # since the last full collection
        self.collections = 0
        self.grown = 0  # of which for memory growth
        self.floor = 0  # allocated blocks after the last full collection, or fewer seen since
        self._pending = False
        self._check: asyncio.TimerHandle | None = None

    def tune(self) -> None:
        """Freeze what was loaded at start-up, raise the thresholds, and watch memory growth (the
        app is serving, on its event loop)."""
        gc.collect()
        gc.freeze()
        gc.set_threshold(*THRESHOLDS)
        self.floor = sys.getallocatedblocks()
        self.tuned = True
        self._schedule()

    def stop(self) -> None:
        """No more checks (the app stopped serving)."""
        if self._check is not None:
            self._check.cancel()
            self._check = None

    def _schedule(self) -> None:
        self.stop()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # tuned outside a loop: the ended connections' collections only
            return
        self._check = loop.call_later(self.check_seconds, self._checked)

    def _checked(self) -> None:
        self.check()
        self._schedule()

    def check(self) -> bool:
        """A full collection now if memory grew by ``growth`` since the last (True if one ran)."""
        blocks = sys.getallocatedblocks()
        self.floor = min(self.floor, blocks)
        if blocks <= self.floor * (1 + self.growth):
            return False
        self.grown += 1
        self.collect(f"allocated blocks grew {self.floor} -> {blocks}")
        return True

    def opened(self) -> None:
        self.open += 1

    def closed(self) -> None:
        self.open = max(0, self.open - 1)
        self.ended += 1
        if self.tuned and not self._pending and self.ended >= max(self.every, self.open):
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a synchronous caller): the next ended connection
                return
            self._pending = True
            loop.call_soon(self.collect)  # not inside the transport's connection_lost

    def collect(self, why: str = "") -> int:
        """One full collection now; returns the objects it freed."""
        started = time.perf_counter()
        ended, self.ended, self._pending = self.ended, 0, False
        freed = gc.collect()
        self.collections += 1
        self.floor = sys.getallocatedblocks()
        log.info(
            "full garbage collection (%s; %d connections ended, %d open): %d objects freed in %.1f ms",
            why or "after ended connections",
            ended,
            self.open,
            freed,
            (time.perf_counter() - started) * 1000,
        )
        return freed


#: The process's one collector: the garbage collector it tunes is per process too.
COLLECTOR = Collector()
