"""The run: servers started and stopped, connections opened, phases run and measured in their window."""

from __future__ import annotations

import argparse
import array
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .client import Clients
from .config import HOST, RATE_BURST, RATE_PER_SECOND, REPLY_TIMEOUT, ROOT, code_revision
from .events_phase import events_round
from .report import Phase, describe
from .scale import REASONS_LIMIT, huge_round, plans5000_round, write_bundle
from .servers import Server, free_port, system_cpu
from .socketio_phase import describe_socketio, run_socketio_phase


class Bench:
    """One benchmark run: the servers, the client processes, and the phases measured so far."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.phases: list[Phase] = []
        self.idle: dict[str, float] = {}
        self.clients = Clients(max(args.client_procs, args.big_procs))
        self.servers: list[Server] = []
        self._open_shares = 1
        self.code = code_revision()
        self.round = ""
        self.socketio: dict[str, dict[str, object]] = {}
        self.events: dict[str, Any] = {}  # issue 13: events on vs off (events_phase.py)

    def log(self, text: str) -> None:
        print(text, flush=True)

    # servers

    def start_echo(self) -> Server:
        port = free_port()
        cmd = [sys.executable, str(ROOT / "bench" / "echo_server.py"), "--port", str(port)]
        return self._start("echo", cmd, dict(os.environ))

    def start_planwise(
        self,
        engine: str,
        bundle: Path | None = None,
        name: str | None = None,
        env: dict[str, str] | None = None,
        workers: int = 1,
    ) -> Server:
        """``planwise serve --demo`` (the demo, or ``bundle``) with the bench instruments (hooked.py),
        in ``workers`` processes (``planwise serve --workers``) when more than one."""
        code = code_revision()
        if code != self.code.rpartition(" -> ")[2]:  # the tree changed under the run: say so once
            self.log(f"[{engine}] NOTE: code is now {code} (run started at {self.code})")
            self.code = f"{self.code} -> {code}"
        port = free_port()
        suffix = f"-w{workers}" if workers > 1 else ""
        # fresh: the bundle loads into an empty one
        db = self.workdir / f"planwise-{name or engine}{suffix}.db"
        settings = {k: v for k, v in os.environ.items() if not k.startswith("PLANWISE_")}
        settings.update(
            PLANWISE_DATABASE_URL=f"sqlite+aiosqlite:///{db}",
            PLANWISE_SECRET_KEY=secrets.token_urlsafe(48),
            PLANWISE_RULES_ENGINE=engine,
            PLANWISE_RATE_PER_SECOND=str(RATE_PER_SECOND),
            PLANWISE_RATE_BURST=str(RATE_BURST),
        )
        if bundle is not None:
            settings["PLANWISE_DEMO_BUNDLE"] = str(bundle)
        settings.update(env or {})  # a phase's own settings (e.g. events off)
        # bench_server.py runs service.server.serve (what `planwise serve` runs) on the same app,
        # plus the bench-only instruments: exact server time per answer, GC pauses, a loop ticker.
        hooked = ROOT / "bench" / "bench_server.py"
        cmd = [sys.executable, str(hooked), HOST, str(port), "info", "--demo", "--port", str(port)]
        cmd += ["--workers", str(workers)]
        return self._start(name or engine, cmd, settings)

    def _start(self, name: str, cmd: list[str], env: dict[str, str]) -> Server:
        server = Server(name, cmd, env, self.workdir)
        self.servers.append(server)
        server.wait_ready()
        self.log(f"[{name}] ready on port {server.port} (pid {server.proc.pid})")
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        if server in self.servers:
            self.servers.remove(server)

    # client commands

    def split(self, n: int, procs: int | None = None) -> list[int]:
        k = min(procs or self.args.client_procs, len(self.clients.pipes), n)
        return [n // k + (1 if i < n % k else 0) for i in range(k)]

    def open(self, server: Server, n: int, procs: int | None = None, timeout: float = 120) -> dict[str, int]:
        kind = "echo" if server.name == "echo" else "planwise"
        shares, first, commands = self.split(n, procs), 0, []
        for share in shares:
            commands.append({"op": "open", "url": server.url, "count": share, "kind": kind, "first": first})
            first += share
        replies = self.clients.call(commands, timeout=timeout)
        errors: dict[str, int] = {}
        for reply in replies:
            for key, value in reply["errors"].items():
                errors[key] = errors.get(key, 0) + value
        opened = sum(r["opened"] for r in replies)
        seconds = max(r["seconds"] for r in replies)
        self.log(f"[{server.name}] opened {opened}/{n} connections in {seconds:.1f} s, errors {errors or 0}")
        self._open_shares = len(shares)
        return errors

    def close(self) -> None:
        self.clients.call([{"op": "close"}] * len(self.clients.pipes), timeout=60)

    def run(
        self,
        server: Server,
        name: str,
        n: int,
        duration: float,
        warmup: float,
        period: float = 0.0,
        think: float = 0.0,
        record: bool = True,
        open_errors: dict[str, int] | None = None,
    ) -> Phase:
        start_at = time.time() + 0.3
        command = {
            "op": "run",
            "start_at": start_at,
            "warmup": warmup,
            "duration": duration,
            "period": period,
            "think": think,
        }
        count = self._open_shares
        for pipe in self.clients.pipes[:count]:
            pipe.send(command)
        time.sleep(max(0.0, start_at + warmup - time.time()))
        s0, c0, a0, w0 = server.cpu(), self.clients.cpu(), system_cpu(), time.perf_counter()
        server.bench_stats(reset=True)
        time.sleep(max(0.0, start_at + warmup + duration - time.time()))
        s1, c1, a1, w1 = server.cpu(), self.clients.cpu(), system_cpu(), time.perf_counter()
        inside = server.bench_stats(reset=True) or {}
        if record and "updates_per_worker" in inside:
            self.log(f"[{server.name}] rules updates per worker process: {inside['updates_per_worker']}")
        replies = []
        for pipe in self.clients.pipes[:count]:
            if not pipe.poll(REPLY_TIMEOUT + 30):
                raise RuntimeError("a client process did not finish its run")
            replies.append(pipe.recv())
        latencies: list[float] = []
        errors: dict[str, int] = dict(open_errors or {})
        for reply in replies:
            lat = array.array("d")
            lat.frombytes(reply["latencies"])
            latencies.extend(lat)
            for key, value in reply["errors"].items():
                errors[key] = errors.get(key, 0) + value
        latencies.sort()
        states = sum(r["states"] for r in replies)
        phase = Phase(
            server.name,
            name,
            n,
            latencies,
            sum(r["done"] for r in replies),
            w1 - w0,
            s1 - s0,
            c1 - c0,
            max(0.0, (a1 - a0) - (s1 - s0) - (c1 - c0)),
            errors,
            sum(r["late"] for r in replies),
            sum(r["repeats"] for r in replies) / states if states else None,
            self.round,
            sorted(inside.get("update_ms", [])),
            inside.get("gc_pauses_ms", []),
            inside.get("loop_stall_max_ms") if inside.get("ticks") else None,
            sum(r["reply_bytes"] for r in replies),
            os.getloadavg()[0],
        )
        if record:
            self.phases.append(phase)
            self.log(describe(phase))
        return phase

    def idle_memory(self, server: Server, n: int, settle: float) -> dict[str, int]:
        """Open ``n`` connections, let them go idle, and charge the RSS growth to them."""
        time.sleep(settle)
        base = server.rss()
        errors = self.open(server, n)
        time.sleep(settle)  # enrichment of the opening updates, then idle
        grown = server.rss() - base
        self.idle[server.name] = grown / 1024 / n
        self.log(
            f"[{server.name}] idle: {n} connections {grown / 1024:.0f} KiB over baseline "
            f"{base / 2**20:.1f} MiB -> {self.idle[server.name]:.1f} KiB per connection"
        )
        return errors

    # the whole run

    def scenario(self) -> None:
        """Per engine: a fresh server; its idle and N=1000 phases; then N=1 and N=100, each right
        after the same phase on the echo server (the machine is shared: adjacent phases see
        similar background load, and each engine's ratios use its own echo round)."""
        a = self.args
        echo = self.start_echo()
        self.open(echo, 1)
        self.run(echo, "warmup", 1, a.warmup, 0.2, record=False)
        self.close()
        self.idle_memory(echo, a.n_idle, 1.0)
        self.close()
        for engine in a.engines:
            server = self.start_planwise(engine)
            try:
                self.planwise_round(server, echo, engine)
            finally:
                self.stop(server)
        self.stop(echo)
        if not a.no_events:
            for engine in a.engines:
                self.events.update(events_round(self, engine))
        if a.engines_5000:
            bundle = write_bundle(self.workdir)
            limited = write_bundle(self.workdir, reasons_limit=REASONS_LIMIT)
            for engine in a.engines_5000:
                plans5000_round(self, engine, bundle)
                plans5000_round(self, engine, limited, tag="-reasons")

    def planwise_round(self, server: Server, echo: Server, engine: str) -> None:
        a = self.args
        self.round = engine
        self.open(server, 1)
        self.run(server, "warmup", 1, a.warmup * 2, 0.2, record=False)
        self.close()
        self.idle_memory(server, a.n_idle, 2.0)
        self.close()
        if engine == "durable" or a.n1000_both:
            errors = self.open(server, a.n_big)
            name = f"N={a.n_big} paced 0.2/s"
            self.run(server, name, a.n_big, a.d_big, 2.0, period=5.0, open_errors=errors)
            self.close()
        if a.n_huge:
            huge_round(self, echo, server, engine)
        for n, duration in ((1, a.d_n1), (100, a.d_n100)):
            self.open(echo, n)
            self.run(echo, f"N={n} closed loop", n, duration, a.warmup)
            self.close()
            self.open(server, n)
            if n == 100 and a.py_spy:
                self.profiled(server, engine)
            self.run(server, f"N={n} closed loop", n, duration, a.warmup)
            if n == 1:
                self.run(server, "N=1 think 20 ms", 1, a.d_n1 / 2, 0.5, think=0.02)
            self.close()
        if not a.no_socketio:  # issue 9: /socket.io/ next to /ws on this server, in one client process
            result = run_socketio_phase(f"http://{HOST}:{server.port}", a.d_n1, a.d_n100, a.warmup)
            self.socketio[engine] = result
            for line in describe_socketio(engine, result):
                self.log(line)

    def profiled(self, server: Server, engine: str) -> None:
        """py-spy the server (and its children) during an extra, unrecorded N=100 run."""
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        out = Path(self.args.py_spy) / f"py-spy-{engine}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        seconds = int(self.args.d_n100)
        cmd = [
            spy,
            "record",
            "--pid",
            str(server.proc.pid),
            "--subprocesses",
            "--rate",
            "250",
            "--duration",
            str(seconds),
            "--format",
            "raw",
            "--output",
            str(out),
            "--nonblocking",
        ]
        spy_proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            phase = self.run(server, "N=100 profiled", 100, seconds - 1, 0.5, record=False)
            self.log(f"[{engine}] (under py-spy) {describe(phase)}")
        finally:
            try:
                spy_proc.wait(30)
            except subprocess.TimeoutExpired:
                spy_proc.kill()
