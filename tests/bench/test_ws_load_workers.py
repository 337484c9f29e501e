"""The WebSocket load bench against ``planwise serve --workers 2`` (its 10,000-connection phase's
default): the server-side figures come from every worker process, not from one of them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "bench")]

from ws_load import parse_args  # noqa: E402
from wsload.orchestrator import Bench  # noqa: E402


@pytest.fixture
def bench(tmp_path: Path) -> Iterator[Bench]:
    args = parse_args(["--quick", "--engines", "reference", "--big-procs", "2"])
    run = Bench(args, tmp_path)
    try:
        yield run
    finally:
        for server in list(run.servers):
            run.stop(server)
        run.clients.stop()


def test_two_workers_report_every_answer_and_both_processes(bench: Bench) -> None:
    assert bench.args.huge_workers == 2  # the phase's default: both cores of the bench machine
    server = bench.start_planwise("reference", workers=2)
    assert bench.open(server, 40, procs=2) == {}
    phase = bench.run(server, "N=40 closed loop", 40, 2.0, 0.5)
    assert phase.done > 40 and not phase.errors
    # Every answer in the window has its server time, whichever worker served it (the recording
    # histogram is installed by the app factory each worker runs). The window's edges differ a
    # little between the server's reset and the clients' clocks.
    assert len(phase.server_ms) >= 0.8 * phase.done
    stats = server.bench_stats(reset=False)
    assert stats is not None and stats["workers_seen"] == 2
    pids = {p.pid for p in server.processes()}
    assert len(pids) >= 3  # uvicorn's supervisor and its two workers
