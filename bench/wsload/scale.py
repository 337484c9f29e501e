"""Issue 10's phases and keys: 10,000 paced connections, idle memory vs echo, 1000 rules x 5000 plans.

- ``huge_round``: N (10,000; ``--quick`` 2,000) connections answering at 0.2 answers/s each, spread
  over ``--big-procs`` client processes, first on the echo floor then on the service, right after
  each other so both see the same machine. Client latency next to the server's own time per answer
  (``planwise_update_seconds``, every value, from the hooked server) and its GC pauses. The service
  runs as ``planwise serve --workers`` ``--huge-workers`` (default 2: both cores of the machine).
- ``plans5000_round``: ``planwise serve`` on a generated 1000-rule, 5000-plan catalogue
  (``bench/catalogues.py``, seed 1) with the server's 1 ms ticker on: N=1 closed loop; server time
  per rules update, the longest event-loop stall, bytes per rules update. Run twice: as generated
  (every reason of every excluded plan: the time and stall keys) and with
  ``ranking.excludedReasonsLimit`` :data:`REASONS_LIMIT` (the bytes key; the other one's bytes are
  ``..._every_reason``).
- ``scale_summary``: the keys of the final JSON line, ``TARGETS_10`` their targets.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from .config import ROOT
from .report import Phase, find, percentile

if TYPE_CHECKING:
    from .orchestrator import Bench
    from .servers import Server

PACED_PERIOD = 5.0  # seconds between answers per connection: 0.2 answers/s

TARGETS_10 = (
    # key, description, comparison, limit
    ("n10000_p99_ms", "10,000 connections at 0.2 answers/s: p99 <= 50 ms (worst engine)", "<=", 50.0),
    ("n10000_errors", "10,000 connections: 0 errors (every engine)", "<=", 0),
    ("idle_kib_vs_echo", "idle KiB per connection <= 1.3x echo (worst engine)", "<=", 1.3),
    ("update_p50_ms_5000_plans", "server time per rules update at 1000x5000: p50 <= 10 ms", "<=", 10.0),
    ("loop_block_max_ms_5000", "longest event-loop stall at 1000x5000 <= 20 ms", "<=", 20.0),
    ("bytes_per_rules_update_5000", "<= 16 KiB per rules update at 1000x5000", "<=", 16 * 1024),
    ("throughput_n100_vs_echo_reference", "reference N=100 throughput >= 20% of echo", ">=", 0.2),
    ("throughput_n100_vs_echo_durable", "durable N=100 throughput >= 15% of echo", ">=", 0.15),
)


def huge_name(args: Any) -> str:
    return f"N={args.n_huge} paced 0.2/s"


def huge_round(bench: Bench, echo: Server, server: Server, engine: str) -> None:
    """The echo floor, then the service, each with ``n_huge`` paced connections.

    With ``--huge-workers N`` (N > 1) the service is a second ``planwise serve --workers N`` of the
    same engine, started for this phase (fresh SQLite, workers polling each other's changes).
    """
    a = bench.args
    own = bench.start_planwise(engine, workers=a.huge_workers) if a.huge_workers > 1 else None
    try:
        for target in (echo, own or server):
            errors = bench.open(target, a.n_huge, procs=a.big_procs, timeout=600)
            bench.run(
                target,
                huge_name(a),
                a.n_huge,
                a.d_huge,
                PACED_PERIOD,
                period=PACED_PERIOD,
                open_errors=errors,
            )
            bench.close()
    finally:
        if own is not None:
            bench.stop(own)


#: ``ranking.excludedReasonsLimit`` of the second 1000x5000 catalogue: what the staff of a catalogue
#: with that many rules would set (a few reasons per excluded plan; explainPlan gives all).
REASONS_LIMIT = 3


def write_bundle(
    workdir: Path, rules: int = 1000, plans: int = 5000, reasons_limit: int | None = None
) -> Path:
    """The generated catalogue as a bundle file for ``PLANWISE_DEMO_BUNDLE`` (with
    ``ranking.excludedReasonsLimit`` when ``reasons_limit`` is given)."""
    sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]
    from catalogues import generate  # bench/catalogues.py (imports rules/)

    bundle = generate(rules, plans, seed=1)
    suffix = ""
    if reasons_limit is not None:
        bundle["ranking"] = {**bundle["ranking"], "excludedReasonsLimit": reasons_limit}
        suffix = f"-reasons{reasons_limit}"
    path = workdir / f"catalogue-{rules}x{plans}{suffix}.json"
    path.write_bytes(orjson.dumps(bundle))
    return path


def plans5000_round(bench: Bench, engine: str, bundle: Path, tag: str = "") -> None:
    """A server on the 1000x5000 catalogue: N=1 closed loop with the 1 ms ticker on."""
    a = bench.args
    server = bench.start_planwise(engine, bundle=bundle, name=f"{engine}-5000{tag}")
    try:
        bench.round = f"{engine}-5000{tag}"
        bench.open(server, 1)
        bench.run(server, "warmup", 1, a.warmup * 2, 0.2, record=False)
        server.bench_stats(reset=True, ticker=True)
        bench.run(server, "N=1 closed loop 1000x5000", 1, a.d_5000, a.warmup)
        server.bench_stats(reset=True, ticker=False)
        bench.close()
    finally:
        bench.stop(server)


def scale_summary(phases: list[Phase], idle: dict[str, float], args: Any) -> dict[str, Any]:
    """Issue 10's keys; the unsuffixed key is the worst engine's (the one the target is about)."""
    out: dict[str, Any] = {"n_huge": args.n_huge, "n10000_workers": args.huge_workers}
    p99s, errors, ratios, updates, stalls, sizes = [], [], [], [], [], []
    for engine in args.engines:
        big = find(phases, engine, huge_name(args))
        floor = find(phases, "echo", huge_name(args), engine)
        if big is not None:
            p99s.append(big.pct(99))
            errors.append(big.error_count)
            out[f"n10000_p99_ms_{engine}"] = big.pct(99)
            out[f"n10000_p50_ms_{engine}"] = big.pct(50)
            out[f"n10000_errors_{engine}"] = big.error_count
            out[f"n10000_answers_per_s_{engine}"] = big.rate
            out[f"n10000_server_p50_ms_{engine}"] = percentile(big.server_ms, 50)
            out[f"n10000_server_p99_ms_{engine}"] = percentile(big.server_ms, 99)
            out[f"n10000_server_cpu_us_per_answer_{engine}"] = big.cpu_per_op
            out[f"n10000_server_core_{engine}"] = big.server_cpu / big.seconds
            out[f"n10000_client_core_{engine}"] = big.client_cpu / big.seconds
            out[f"n10000_gc_pauses_{engine}"] = len(big.gc_ms)
            out[f"n10000_gc_max_ms_{engine}"] = max(big.gc_ms, default=0.0)
            out[f"n10000_load_{engine}"] = big.load
        if floor is not None:
            out[f"echo_n10000_p99_ms_{engine}_round"] = floor.pct(99)
            out[f"echo_n10000_p50_ms_{engine}_round"] = floor.pct(50)
            out[f"echo_n10000_errors_{engine}_round"] = floor.error_count
            if big is not None:
                out[f"n10000_p99_vs_echo_{engine}"] = big.pct(99) / floor.pct(99)
        if engine in idle and idle.get("echo"):
            ratio = idle[engine] / idle["echo"]
            ratios.append(ratio)
            out[f"idle_kib_vs_echo_{engine}"] = ratio
    for engine in args.engines_5000:
        limited = find(phases, f"{engine}-5000-reasons", "N=1 closed loop 1000x5000")
        if limited is not None and limited.done:
            sizes.append(limited.reply_bytes / limited.done)
            out[f"bytes_per_rules_update_5000_{engine}"] = limited.reply_bytes / limited.done
            out[f"update_p50_ms_5000_plans_reasons_limit_{engine}"] = percentile(limited.server_ms, 50)
        heavy = find(phases, f"{engine}-5000", "N=1 closed loop 1000x5000")
        if heavy is not None:
            update = percentile(heavy.server_ms, 50)
            updates.append(update)
            out[f"update_p50_ms_5000_plans_{engine}"] = update
            out[f"update_p99_ms_5000_plans_{engine}"] = percentile(heavy.server_ms, 99)
            out[f"client_p50_ms_5000_plans_{engine}"] = heavy.pct(50)
            if heavy.stall_max_ms is not None:
                stalls.append(heavy.stall_max_ms)
                out[f"loop_block_max_ms_5000_{engine}"] = heavy.stall_max_ms
            if heavy.done:  # every reason of every excluded plan (no excludedReasonsLimit)
                out[f"bytes_per_rules_update_5000_every_reason_{engine}"] = heavy.reply_bytes / heavy.done
    out["n10000_p99_ms"] = max(p99s, default=math.nan)
    out["n10000_errors"] = sum(errors) if errors else None
    out["idle_kib_vs_echo"] = max(ratios, default=math.nan)
    out["update_p50_ms_5000_plans"] = max(updates, default=math.nan)
    out["loop_block_max_ms_5000"] = max(stalls, default=math.nan)
    out["bytes_per_rules_update_5000"] = max(sizes, default=math.nan)
    return out
