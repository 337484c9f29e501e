"""WebSocket load benchmark: the real service (``planwise serve --demo``) against a bare echo floor.

    .venv/bin/python bench/ws_load.py            # full run, ~4-5 minutes
    .venv/bin/python bench/ws_load.py --quick    # smoke run, well under a minute

Starts, on 127.0.0.1 only, the bare Quart echo app (bench/echo_server.py, uvicorn tuned like the
service) and the real server as ``make run`` does, once per rules engine (``durable`` and
``reference``), each on a fresh SQLite file with generous rate limits. Client processes (the
``websockets`` library, no compression) open N = 1, 100 and 1000 connections; each runs ``hello``
and answers the demo questionnaire one question at a time with varied valid answers, timing
send -> the ``recommendationUpdates`` whose ``replyTo`` is the answer's ``id`` (echo: send -> echo).
Reported per phase: p50/p95/p99, answers per second, server CPU per answer (server process and its
children, i.e. the engine worker), client CPU, idle KiB per connection, and the ratios to echo.
The last line of the output is one JSON object (see ``summary``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import orjson
from wsload.config import RATE_BURST, RATE_PER_SECOND, code_revision, raise_nofile
from wsload.events_phase import TARGET as EVENTS_TARGET
from wsload.orchestrator import Bench
from wsload.report import TARGETS, summary, table, verdict
from wsload.scale import TARGETS_10, scale_summary


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short smoke run (N=1000 phase uses 200)")
    parser.add_argument("--engines", default="durable,reference", help="comma-separated rules engines")
    parser.add_argument("--client-procs", type=int, default=1, help="client processes (default 1)")
    parser.add_argument("--n1000-both", action="store_true", help="also run the paced N=1000 on reference")
    parser.add_argument("--py-spy", metavar="DIR", help="also py-spy the server during an extra N=100 run")
    parser.add_argument("--no-socketio", action="store_true", help="skip the Socket.IO phase (issue 9)")
    parser.add_argument("--no-events", action="store_true", help="skip the events on/off phase (issue 13)")
    parser.add_argument(
        "--events-rounds", type=int, default=0, help="rounds per server of the events phase (8; quick 4)"
    )
    parser.add_argument("--big-procs", type=int, default=4, help="client processes for the 10,000 phase")
    parser.add_argument("--no-huge", action="store_true", help="skip the 10,000-connection phase")
    parser.add_argument(
        "--huge-workers",
        type=int,
        default=2,
        help="planwise serve --workers for the 10,000 phase (default 2)",
    )
    parser.add_argument("--n-idle", type=int, dest="n_idle_wanted", help="idle connections (2000; quick 500)")
    parser.add_argument(
        "--engines-5000", default="reference", help="engines for the 1000x5000 phase ('' skips it)"
    )
    args = parser.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    args.engines_5000 = [e.strip() for e in args.engines_5000.split(",") if e.strip()]
    if args.quick:
        args.warmup, args.d_n1, args.d_n100, args.n_big, args.d_big = 0.5, 2.0, 3.0, 200, 10.0
        args.n_idle, args.n_huge, args.d_huge, args.d_5000 = 500, 2000, 10.0, 4.0
    else:
        args.warmup, args.d_n1, args.d_n100, args.n_big, args.d_big = 1.0, 8.0, 12.0, 1000, 40.0
        args.n_idle, args.n_huge, args.d_huge, args.d_5000 = 2000, 10_000, 30.0, 12.0
    if args.no_huge:
        args.n_huge = 0
    if args.n_idle_wanted:
        args.n_idle = args.n_idle_wanted
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    nofile = raise_nofile()
    load = os.getloadavg()
    print(
        f"ws_load: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f}, "
        f"open-file limit {nofile}, {args.client_procs} client process(es), "
        f"engines {', '.join(args.engines)}{', QUICK smoke run' if args.quick else ''}, "
        f"code {code_revision()}\n"
        f"server: planwise serve --demo, fresh SQLite per engine, generous limits for the load phases: "
        f"PLANWISE_RATE_PER_SECOND={RATE_PER_SECOND} PLANWISE_RATE_BURST={RATE_BURST}; "
        "echo: bench/echo_server.py\n"
        "latency: send -> recommendationUpdates with the answer's replyTo (echo: send -> echo); "
        "server CPU includes children (engine worker); 'other' = CPU used by the rest of the machine",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="planwise-wsbench-"))
    bench: Bench | None = None
    try:
        bench = Bench(args, workdir)
        bench.scenario()
        result = summary(bench.phases, bench.idle, args, bench.code)
        result.update(scale_summary(bench.phases, bench.idle, args))
        result["targets_met_issue10"] = {
            k: verdict(result.get(k), op, lim)[0] for k, _, op, lim in TARGETS_10
        }
        print("\n" + table(bench.phases, bench.idle))
        for title, targets in (("issue 3", TARGETS), ("issue 10", TARGETS_10)):
            print(f"\ntargets ({title}):")
            for key, text, op, limit in targets:
                met, detail = verdict(result.get(key), op, limit)
                label = {True: "met   ", False: "MISSED", None: "n/a   "}[met]
                print(f"  {label} {text}: {detail}")
        for engine, sio in bench.socketio.items():
            print(
                f"  Socket.IO ({engine}): p50 at N=1 {sio['p50_ratio_n1']:.2f}x /ws (<= 1.5x), "
                f"answers/s at N=100 {sio['throughput_share_n100']:.0%} of /ws (>= 60%)"
            )
        result["socketio"] = bench.socketio
        result.update(bench.events)
        for engine in args.engines:
            cost = bench.events.get(f"events_cost_n100_{engine}")
            if cost is not None:
                label = "met   " if cost <= EVENTS_TARGET else "MISSED"
                most = f"{EVENTS_TARGET:.0%}"
                aa = bench.events.get(f"events_aa_n100_{engine}")
                control = f"; A/A {aa:+.1%} (two servers without events)" if aa is not None else ""
                print(
                    f"  {label} events cost ({engine}): {cost:.1%} of N=100 throughput (<= {most}){control}"
                )
        load = os.getloadavg()
        print(f"load average at the end: {load[0]:.2f} {load[1]:.2f}")
        print(orjson.dumps(result).decode())
        return 0
    finally:
        if bench is not None:
            for server in list(bench.servers):
                with contextlib.suppress(Exception):
                    bench.stop(server)
            bench.clients.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
