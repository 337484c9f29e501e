"""``planwise serve`` with bench-only instruments, started by ``bench/bench_server.py``.

The same ``service.server.serve`` and ``planwise.app.create_app`` as ``planwise serve``; this module
only adds, for the benchmark and never in the product:

- every ``planwise_update_seconds`` observation (userResponse -> its rules-stage update: commit and
  evaluation) kept exactly, so a phase can report the server-side time per answer next to the
  client's latency;
- a 1 ms ticker task in the server's event loop (off until asked for): the longest gap between its
  wake-ups, minus the 1 ms, is the longest event-loop stall in the window;
- Python's garbage-collection pauses (``gc.callbacks``), so a latency tail can be told apart;
- ``GET /__bench/stats?reset=1&ticker=1`` (the figures since the last reset, as JSON; ``ticker``
  turns the ticker on or off) and ``GET /__bench/memory?top=25`` (with ``BENCH_TRACEMALLOC=1`` in
  the environment: the allocation diff since the last call, by line, and the number of tasks).
"""

from __future__ import annotations

import array
import asyncio
import gc
import os
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any

from quart import Quart, request


@dataclass
class Instruments:
    updates: array.array[float] = field(default_factory=lambda: array.array("d"))
    gc_pauses: array.array[float] = field(default_factory=lambda: array.array("d"))
    stall_max: float = 0.0
    stalls_over_20ms: int = 0
    ticks: int = 0
    ticker: asyncio.Task[None] | None = None
    gc_started: float = 0.0
    snapshot: tracemalloc.Snapshot | None = None

    def reset(self) -> None:
        self.updates = array.array("d")
        self.gc_pauses = array.array("d")
        self.stall_max, self.stalls_over_20ms, self.ticks = 0.0, 0, 0

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.gc_started = time.perf_counter()
        elif info.get("generation") == 2 or time.perf_counter() - self.gc_started > 0.005:
            self.gc_pauses.append((time.perf_counter() - self.gc_started) * 1000.0)

    async def tick(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            stall = max(0.0, (now - last) * 1000.0 - 1.0)
            last = now
            self.ticks += 1
            self.stall_max = max(self.stall_max, stall)
            self.stalls_over_20ms += stall > 20.0

    def set_ticker(self, on: bool) -> None:
        if on and self.ticker is None:
            self.ticker = asyncio.get_running_loop().create_task(self.tick())
        elif not on and self.ticker is not None:
            self.ticker.cancel()
            self.ticker = None

    def stats(self) -> dict[str, Any]:
        return {
            "update_ms": [v * 1000.0 for v in self.updates],
            "gc_pauses_ms": list(self.gc_pauses),
            "loop_stall_max_ms": self.stall_max,
            "loop_stalls_over_20ms": self.stalls_over_20ms,
            "ticks": self.ticks,
            "tasks": len(asyncio.all_tasks()),
            "pid": os.getpid(),  # with --workers, each process answers for itself
        }


INSTRUMENTS = Instruments()


class RecordingHistogram:
    """The service's histogram, observing as before, plus every value kept for the benchmark."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def observe(self, value: float, *args: Any, **kwargs: Any) -> None:
        INSTRUMENTS.updates.append(value)
        self.inner.observe(value, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def memory_diff(top: int) -> dict[str, Any]:
    """Allocations since the previous call, grouped by line (needs BENCH_TRACEMALLOC=1)."""
    if not tracemalloc.is_tracing():
        return {"error": "start the server with BENCH_TRACEMALLOC=1"}
    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(
        (tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen *>"))
    )
    before, INSTRUMENTS.snapshot = INSTRUMENTS.snapshot, snapshot
    tasks = asyncio.all_tasks()
    by_coro: dict[str, int] = {}
    for task in tasks:
        name = getattr(task.get_coro(), "__qualname__", "?")
        by_coro[name] = by_coro.get(name, 0) + 1
    out: dict[str, Any] = {"tasks": len(tasks), "tasks_by_coroutine": by_coro}
    if before is not None:
        stats = snapshot.compare_to(before, "lineno")
        out["total_kib"] = sum(s.size_diff for s in stats) / 1024
        out["top"] = [
            {"where": str(s.traceback[0]), "kib": s.size_diff / 1024, "count": s.count_diff}
            for s in stats[:top]
        ]
        files = snapshot.compare_to(before, "filename")
        out["files"] = [{"where": str(s.traceback[0]), "kib": s.size_diff / 1024} for s in files[:top]]
    return out


def create_app() -> Quart:
    """``planwise.app.create_app`` plus the two bench routes, the gc callback and the recording histogram
    (here, so that every ``--workers`` process has them: a worker runs this factory, never ``main``)."""
    from planwise.app import create_app as planwise_app
    from service import metrics

    if not isinstance(metrics.UPDATE_SECONDS, RecordingHistogram):
        metrics.UPDATE_SECONDS = RecordingHistogram(metrics.UPDATE_SECONDS)  # type: ignore[assignment]

    app = planwise_app()

    @app.get("/__bench/stats")
    async def bench_stats() -> dict[str, Any]:
        out = INSTRUMENTS.stats()
        if request.args.get("reset"):
            INSTRUMENTS.reset()
        if request.args.get("ticker") in ("0", "1"):
            INSTRUMENTS.set_ticker(request.args["ticker"] == "1")
        return out

    @app.get("/__bench/memory")
    async def bench_memory() -> dict[str, Any]:
        return memory_diff(int(request.args.get("top", "25")))

    gc.callbacks.append(INSTRUMENTS.on_gc)
    return app


def main(argv: list[str]) -> None:
    """``bench_server.py HOST PORT LOG-LEVEL [--demo] [--workers N]``: run ``serve`` on the hooked app."""
    from planwise.cli import prepare
    from service.server import serve

    if os.environ.get("BENCH_TRACEMALLOC") == "1":
        tracemalloc.start(1)
    host, port, log_level = argv[0], int(argv[1]), argv[2]
    workers = int(argv[argv.index("--workers") + 1]) if "--workers" in argv else 1
    demo = "--demo" in argv
    serve(host, port, workers, demo, log_level, app_factory="wsload.hooked:create_app", prepare=prepare)
