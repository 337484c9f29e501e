"""Issue 13's cost of the Insights events: N=100 throughput with events on and off, same run.

Two ``planwise serve`` of one engine, one as usual (events on) and one with
``PLANWISE_EVENT_RETENTION_DAYS=0`` (no events recorded), both up at once (with a control, below);
N=100 closed loop on each in turn (the order rotates), ``--events-rounds`` times, so that both see
the same background load. The key ``events_cost_n100_<engine>`` is ``1 - on / off`` of the median
answers/s (target <= 5%). Beside it, ``events_cpu_cost_n100_<engine>``: the server's CPU per
answer with events over without, minus one (the same rounds; it moves less than answers/s, which
also depends on the client processes' share of the two cores), and the part of it on the server's
main thread (the event loop: what answers wait for) beside the rest (the group writer's thread,
the rollup's child process). The background fold into the Insights rollup runs every 30 s, so
rounds of 12 s meet it in some rounds and not in others: more rounds, a steadier median.

A third server, a second one without events, takes its turn in every round too: the key
``events_aa_n100_<engine>`` is ``1 - off2 / off`` (an A/A comparison, whose true value is 0). It
says how far two servers of the same code differ in this run (per-process effects and this
machine's noise), i.e. how much of ``events_cost`` could be noise.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .orchestrator import Bench

ROUNDS = 8  # --events-rounds (--quick: 4): rounds of one server spread about ±15 %
EVENTS_OFF = "PLANWISE_EVENT_RETENTION_DAYS"  # 0: no events recorded
TARGET = 0.05


def events_round(bench: Bench, engine: str) -> dict[str, Any]:
    """Answers/s at N=100 with and without events, in turns; the summary keys for this engine."""
    a = bench.args
    servers = {
        "on": bench.start_planwise(engine, name=f"{engine}-events-on"),
        "off": bench.start_planwise(engine, name=f"{engine}-events-off", env={EVENTS_OFF: "0"}),
        "off2": bench.start_planwise(engine, name=f"{engine}-events-off2", env={EVENTS_OFF: "0"}),
    }
    rates: dict[str, list[float]] = {kind: [] for kind in servers}
    cpu: dict[str, list[float]] = {kind: [] for kind in servers}  # server CPU us per answer
    main: dict[str, list[float]] = {kind: [] for kind in servers}  # of it, the main thread's
    try:
        for server in servers.values():  # warm each (catalogue loaded, caches)
            bench.open(server, 1)
            bench.run(server, "warmup", 1, a.warmup, 0.2, record=False)
            bench.close()
        for r in range(a.events_rounds or (4 if a.quick else ROUNDS)):
            # The order rotates: each server also meets the others' leftover work (their last
            # answers' enrichment, a fold of the events that falls due) from every position.
            turn = list(servers.items())
            turn = turn[r % len(turn) :] + turn[: r % len(turn)]
            for kind, server in turn[:: 1 if r % 2 == 0 else -1]:
                bench.open(server, 100)
                total, loop = server.cpu(), server.main_thread_cpu()
                phase = bench.run(server, f"N=100 events {kind}", 100, a.d_n100, a.warmup, record=False)
                total, loop = server.cpu() - total, server.main_thread_cpu() - loop
                bench.close()
                rates[kind].append(phase.rate)
                cpu[kind].append(phase.cpu_per_op)
                main[kind].append(phase.cpu_per_op * loop / total if total > 0 else 0.0)
    finally:
        for server in servers.values():
            bench.stop(server)
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    cost = 1 - on / off if off else None
    off2 = statistics.median(rates["off2"])
    aa = 1 - off2 / off if off else None
    cpu_on, cpu_off = statistics.median(cpu["on"]), statistics.median(cpu["off"])
    main_on, main_off = statistics.median(main["on"]), statistics.median(main["off"])
    cpu_cost = cpu_on / cpu_off - 1 if cpu_off else None
    each = " / ".join(", ".join(f"{x:.0f}" for x in rates[kind]) for kind in servers)
    bench.log(
        f"[{engine}] events: N=100 {on:.0f} answers/s with, {off:.0f} without (rounds on / off / off2:"
        f" {each}): cost {cost:.1%} (target <= {TARGET:.0%}); A/A {aa:+.1%}; server CPU {cpu_on:.0f}"
        f" vs {cpu_off:.0f} us/answer ({cpu_cost:+.1%}), of it the main thread {main_on:.0f} vs"
        f" {main_off:.0f} (the rest: the writer's thread, the rollup's child process)"
        if cost is not None and cpu_cost is not None and aa is not None
        else f"[{engine}] events: no answers without events"
    )
    return {
        f"events_cost_n100_{engine}": cost,
        f"events_aa_n100_{engine}": aa,
        f"{engine}_n100_per_s_events_off2": off2,
        f"{engine}_n100_per_s_events_on": on,
        f"{engine}_n100_per_s_events_off": off,
        f"events_cpu_cost_n100_{engine}": cpu_cost,
        f"{engine}_n100_server_us_events_on": cpu_on,
        f"{engine}_n100_server_us_events_off": cpu_off,
        f"{engine}_n100_server_main_us_events_on": main_on,
        f"{engine}_n100_server_main_us_events_off": main_off,
    }
