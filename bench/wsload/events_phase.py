"""Issue 13's cost of the Insights events: N=100 throughput with events on and off, same run.

Two ``planwise serve`` of one engine, one as usual (events on) and one with
``PLANWISE_EVENT_RETENTION_DAYS=0`` (no events recorded), both up at once; N=100 closed loop on
each in turn, ``ROUNDS`` times, so that both see the same background load. The key
``events_cost_n100_<engine>`` is ``1 - on / off`` of the median answers/s (target <= 5%).
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .orchestrator import Bench

ROUNDS = 5  # --quick: 3
EVENTS_OFF = "PLANWISE_EVENT_RETENTION_DAYS"  # 0: no events recorded
TARGET = 0.05


def events_round(bench: Bench, engine: str) -> dict[str, Any]:
    """Answers/s at N=100 with and without events, in turns; the summary keys for this engine."""
    a = bench.args
    servers = {
        "on": bench.start_planwise(engine, name=f"{engine}-events-on"),
        "off": bench.start_planwise(engine, name=f"{engine}-events-off", env={EVENTS_OFF: "0"}),
    }
    rates: dict[str, list[float]] = {"on": [], "off": []}
    try:
        for server in servers.values():  # warm both (catalogue loaded, caches)
            bench.open(server, 1)
            bench.run(server, "warmup", 1, a.warmup, 0.2, record=False)
            bench.close()
        for _ in range(3 if a.quick else ROUNDS):
            for kind, server in servers.items():
                bench.open(server, 100)
                phase = bench.run(server, f"N=100 events {kind}", 100, a.d_n100, a.warmup, record=False)
                bench.close()
                rates[kind].append(phase.rate)
    finally:
        for server in servers.values():
            bench.stop(server)
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    cost = 1 - on / off if off else None
    each = " / ".join(", ".join(f"{x:.0f}" for x in rates[kind]) for kind in ("on", "off"))
    bench.log(
        f"[{engine}] events: N=100 {on:.0f} answers/s with, {off:.0f} without (rounds {each}): "
        f"cost {cost:.1%} (target <= {TARGET:.0%})"
        if cost is not None
        else f"[{engine}] events: no answers without events"
    )
    return {
        f"events_cost_n100_{engine}": cost,
        f"{engine}_n100_per_s_events_on": on,
        f"{engine}_n100_per_s_events_off": off,
    }
