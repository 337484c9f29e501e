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
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)

#: Ended connections between two full collections at the least.
EVERY = 1000
#: The tuned thresholds: young collections every 20,000 net allocations, the middle generation's every
#: 2,500,000. Each young collection's pause grows with the objects it scans: at 1,000 rules x 5,000
#: plans (~195 KB updates) 13-23 ms at 50,000, 5-11 ms at 20,000 (loop stall 22.5 -> 14.2 and 11.7 ms,
#: same update p50, bench/RESULTS.md); at 10,000 with the middle one every 100,000 that one took 28-35.
THRESHOLDS = (20_000, 125, 100)


class Collector:
    """Counts WebSocket connections (every transport's protocol reports here) and collects."""

    def __init__(self, every: int = EVERY) -> None:
        self.every = every
        self.tuned = False
        self.open = 0
        self.ended = 0  # since the last full collection
        self.collections = 0
        self._pending = False

    def tune(self) -> None:
        """Freeze what was loaded at start-up and raise the thresholds (the app is serving)."""
        gc.collect()
        gc.freeze()
        gc.set_threshold(*THRESHOLDS)
        self.tuned = True

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

    def collect(self) -> int:
        """One full collection now; returns the objects it freed."""
        started = time.perf_counter()
        ended, self.ended, self._pending = self.ended, 0, False
        freed = gc.collect()
        self.collections += 1
        log.info(
            "full garbage collection after %d ended connections (%d open): %d objects freed in %.1f ms",
            ended,
            self.open,
            freed,
            (time.perf_counter() - started) * 1000,
        )
        return freed


#: The process's one collector: the garbage collector it tunes is per process too.
COLLECTOR = Collector()
