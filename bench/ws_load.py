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
import array
import asyncio
import contextlib
import math
import multiprocessing as mp
import os
import random
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import orjson
import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
RATE_PER_SECOND = 100_000  # generous per-connection limits for the load phases (default: 20/s, 40)
RATE_BURST = 10_000
REPLY_TIMEOUT = 10.0  # seconds to wait for one reply before counting a timeout
OPEN_CONCURRENCY = 50
NOFILE_WANTED = 16_384
UPDATE_PREFIX = b'{"event":"recommendationUpdates"'
TEXT_POOL = (
    "Please call me in the evening",
    "I mostly use WhatsApp",
    "Need a plan for my kid",
    "Moving abroad next year",
    "Current contract ends in March",
    "",
)
TARGETS = (
    # key, description, comparison, limit
    ("p50_n1_vs_echo_reference", "reference p50 at N=1 <= 2x echo", "<=", 2.0),
    ("throughput_n100_vs_echo_reference", "reference N=100 throughput >= 50% of echo", ">=", 0.5),
    ("p50_n1_vs_echo_durable", "durable p50 at N=1 <= 5x echo", "<=", 5.0),
    ("throughput_n100_vs_echo_durable", "durable N=100 throughput >= 15% of echo", ">=", 0.15),
    ("n1000_p99_ms", "durable N=1000 at 0.2 answers/s each: p99 <= 50 ms", "<=", 50.0),
    ("n1000_errors", "durable N=1000: 0 errors", "<=", 0),
    ("idle_kib_per_conn", "<= 30 KiB per idle connection (durable server)", "<=", 30.0),
)


def code_revision() -> str:
    """The commit under test, '+dirty' when tracked files differ (read-only git; no index refresh)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+dirty" if status else "")


def raise_nofile() -> int:
    """Lift the soft open-file limit (inherited by the servers we start) for 1000+ sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = NOFILE_WANTED if hard == resource.RLIM_INFINITY else min(NOFILE_WANTED, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- answers ---------------------------------------------------------------------------------------


def number_value(question: dict[str, Any], rng: random.Random) -> int | float:
    """A number within min/max on the step grid (from min); 60% of the time a 'round' one."""
    step = Decimal(repr(question.get("step") or 1))
    low = Decimal(repr(question["min"])) if question.get("min") is not None else Decimal(0)
    high = Decimal(repr(question["max"])) if question.get("max") is not None else low + 100 * step
    steps = int((high - low) / step)
    k = rng.randrange(0, steps + 1, max(1, steps // 20)) if rng.random() < 0.6 else rng.randint(0, steps)
    value = low + k * step
    return int(value) if value == value.to_integral_value() else float(str(value))


def answer_value(question: dict[str, Any], rng: random.Random) -> Any:
    """A valid, varied answer to one question of the ``questionnaire`` event."""
    kind = question["type"]
    options = [o["value"] for o in question.get("options", [])]
    if kind == "choice":
        return rng.choice(options)
    if kind == "multi":
        chosen = set(rng.sample(options, min(len(options), rng.choice((0, 1, 1, 2, 2, 3)))))
        return [o for o in options if o in chosen]  # option order, as the server stores it
    if kind == "number":
        return number_value(question, rng)
    if kind == "boolean":
        return rng.random() < 0.5
    return rng.choice(TEXT_POOL)[: int(question.get("maxLength") or 500)]


class Journey:
    """One person's run through the questionnaire, a question at a time, then starting over.

    Hidden questions (per the last update) are skipped, 15% of visible ones too; after the last
    question one ``userResponse`` clears every answer and the next run begins.
    """

    def __init__(self, questions: list[dict[str, Any]], rng: random.Random) -> None:
        self.questions = questions
        self.rng = rng
        self.answers: dict[str, Any] = {}
        self.hidden: set[str] = set()
        self.position = 0

    def next_answers(self) -> dict[str, Any]:
        for _ in range(len(self.questions)):
            if self.position >= len(self.questions):
                break
            question = self.questions[self.position]
            self.position += 1
            if question["id"] in self.hidden or self.rng.random() < 0.15:
                continue
            value = answer_value(question, self.rng)
            self.answers[question["id"]] = value
            return {question["id"]: value}
        self.position = 0
        cleared = {qid: None for qid in self.answers} or {self.questions[0]["id"]: None}
        self.answers = {}
        return cleared

    def state_key(self) -> int:
        return hash(orjson.dumps(self.answers, option=orjson.OPT_SORT_KEYS))


# -- client process ----------------------------------------------------------------------------------


@dataclass
class Conn:
    ws: ClientConnection
    journey: Journey
    revision: int = 0


@dataclass
class RunStats:
    latencies: array.array[float] = field(default_factory=lambda: array.array("d"))
    done: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    late: int = 0
    states: int = 0
    repeats: int = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class ClientWorker:
    """Runs in its own process: holds connections between commands from the orchestrator."""

    def __init__(self, pipe: Pipe, seed: int) -> None:
        self.pipe = pipe
        self.seed = seed
        self.conns: list[Conn] = []
        self.kind = "planwise"
        self.url = ""
        self.questions: list[dict[str, Any]] = []
        self.seen: set[int] = set()  # answer states sent to this server (evaluation cache estimate)
        self.runs = 0  # part of every message id: a late reply from an earlier run never matches

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                command: dict[str, Any] = await loop.run_in_executor(None, self.pipe.recv)
            except EOFError:
                return
            op = command.pop("op")
            if op == "open":
                self.pipe.send(await self.open_all(**command))
            elif op == "run":
                self.pipe.send(await self.run(**command))
            else:  # close, exit
                self.pipe.send(await self.close_all())
                if op == "exit":
                    return

    async def open_all(self, url: str, count: int, kind: str, first: int) -> dict[str, Any]:
        """Open ``count`` connections; for the service each completes hello and the opening sequence."""
        self.kind = kind
        if url != self.url:
            self.url, self.seen = url, set()
        if kind == "echo" and not self.questions:  # frames shaped like the service's answers
            bundle = orjson.loads((ROOT / "data" / "demo-mobile.json").read_bytes())
            self.questions = bundle["questions"]
        stats = RunStats()
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)
        started = time.perf_counter()

        async def one(index: int) -> None:
            async with gate:
                try:
                    ws = await connect(
                        url,
                        compression=None,
                        open_timeout=10,
                        ping_interval=None,
                        close_timeout=2,
                        max_size=2**22,
                        proxy=None,
                    )
                except Exception:  # refused, reset, timed out, rejected upgrade: all count
                    stats.error("connect_failed")
                    return
                try:
                    async with asyncio.timeout(REPLY_TIMEOUT):
                        conn = await self._opening(ws, random.Random(self.seed * 1_000_003 + first + index))
                except (TimeoutError, ConnectionClosed, KeyError, ValueError) as exc:
                    stats.error(f"opening_{type(exc).__name__}")
                    with contextlib.suppress(Exception):
                        await ws.close()
                    return
                self.conns.append(conn)

        await asyncio.gather(*(one(i) for i in range(count)))
        return {"opened": len(self.conns), "errors": stats.errors, "seconds": time.perf_counter() - started}

    async def _opening(self, ws: ClientConnection, rng: random.Random) -> Conn:
        if self.kind == "echo":
            message = '{"event":"hello","data":{},"id":"h"}'
            await ws.send(message)
            if await ws.recv() != message:
                raise ValueError("bad echo")
            return Conn(ws, Journey(self.questions, rng))
        await ws.send('{"event":"hello","data":{},"id":"h"}')
        revision, update = -1, None
        while update is None:
            message = orjson.loads(await ws.recv(decode=False))
            event, data = message["event"], message["data"]
            if event == "session":
                revision = data["revision"]
            elif event == "questionnaire":
                self.questions = data["questions"]
            elif event == "recommendationUpdates":
                update = data
            elif event == "error":
                raise ValueError(f"error {data.get('code')} during the opening")
        journey = Journey(self.questions, rng)
        journey.hidden = {q["id"] for q in update["questions"] if not q["visible"]}
        return Conn(ws, journey, revision)

    async def close_all(self) -> dict[str, Any]:
        conns, self.conns = self.conns, []

        async def one(conn: Conn) -> None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await conn.ws.close()

        await asyncio.gather(*(one(c) for c in conns))
        return {"closed": len(conns)}

    async def run(
        self, start_at: float, warmup: float, duration: float, period: float, think: float
    ) -> dict[str, Any]:
        """Answer on every connection: closed loop (``period`` 0, optional ``think``) or paced.

        The measuring window is [start_at + warmup, + duration) in wall-clock time, shared with
        the orchestrator (which samples CPU at its edges) and the other client processes.
        """
        offset = time.time() - time.perf_counter()
        t_start = start_at + warmup - offset
        t_end = t_start + duration
        stats = RunStats()
        stop = asyncio.Event()
        rng = random.Random(self.seed)
        self.runs += 1
        run = self.runs

        async def loop(conn: Conn, index: int) -> None:
            next_at = start_at - offset + (rng.random() * period if period else 0.0)
            counter = 0
            while not stop.is_set():
                if period:
                    delay = next_at - time.perf_counter()
                    if delay < -0.01:
                        stats.late += 1
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(max(0.0, delay)):
                            await stop.wait()
                    if stop.is_set():
                        return
                    next_at += period
                else:
                    await asyncio.sleep(max(0.0, start_at - offset - time.perf_counter()))
                counter += 1
                ok = await self._answer(conn, f"{run}-{index}-{counter}", stats, t_start, t_end)
                if not ok:
                    return  # the connection is gone (counted); the others go on
                if think:
                    await asyncio.sleep(think)

        tasks = [asyncio.create_task(loop(c, i)) for i, c in enumerate(self.conns)]
        await asyncio.sleep(max(0.0, t_end - time.perf_counter()))
        stop.set()
        _, pending = await asyncio.wait(tasks, timeout=REPLY_TIMEOUT + 5)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        alive = [c for c in self.conns if c.ws.close_code is None]
        stats.errors.update({"closed": len(self.conns) - len(alive)} if len(alive) < len(self.conns) else {})
        self.conns = alive
        return {
            "latencies": stats.latencies.tobytes(),
            "done": stats.done,
            "errors": stats.errors,
            "late": stats.late,
            "states": stats.states,
            "repeats": stats.repeats,
        }

    async def _answer(self, conn: Conn, ident: str, stats: RunStats, t_start: float, t_end: float) -> bool:
        """Send one answer and wait for its reply; False when the connection is unusable."""
        answers = conn.journey.next_answers()
        message = orjson.dumps({"event": "userResponse", "data": {"answers": answers}, "id": ident}).decode()
        if self.kind == "planwise":
            key = conn.journey.state_key()
            counted = t_start <= time.perf_counter() < t_end
            if counted:
                stats.states += 1
                stats.repeats += key in self.seen
            self.seen.add(key)
        sent = time.perf_counter()
        try:
            await conn.ws.send(message)
            async with asyncio.timeout(REPLY_TIMEOUT):
                got = await self._reply(conn, message, ident, stats)
        except TimeoutError:
            stats.error("reply_timeout")
            return False
        except ConnectionClosed:
            return False  # counted once per connection after the run
        if got is not None and t_start <= got < t_end:
            stats.done += 1
            stats.latencies.append((got - sent) * 1000.0)
        return True

    async def _reply(self, conn: Conn, message: str, ident: str, stats: RunStats) -> float | None:
        """Read frames until the one answering ``ident``; its arrival time (None if an error)."""
        expected = message.encode()
        while True:
            data = await conn.ws.recv(decode=False)
            arrived = time.perf_counter()
            if self.kind == "echo":
                if data == expected:
                    return arrived
                continue
            assert isinstance(data, bytes)
            if data.startswith(UPDATE_PREFIX) and b'"replyTo"' not in data:
                continue  # the enriched update of an earlier answer: not parsed (client CPU)
            frame = orjson.loads(data)
            payload = frame["data"]
            if frame["event"] == "error":
                stats.error(f"error_{payload.get('code')}")
                if payload.get("replyTo") == ident:
                    return None
                continue
            if frame["event"] != "recommendationUpdates" or payload.get("replyTo") != ident:
                continue
            conn.revision += 1
            if payload["revision"] != conn.revision or payload["stage"] != "rules":
                stats.error("unexpected_update")
                conn.revision = payload["revision"]
            conn.journey.hidden = {q["id"] for q in payload["questions"] if not q["visible"]}
            return arrived


def client_main(pipe: Pipe, seed: int) -> None:
    raise_nofile()
    asyncio.run(ClientWorker(pipe, seed).serve())


# -- orchestrator: servers, clients, measurements ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """A server subprocess in its own process group; stopped gracefully, then killed."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.port = int(cmd[cmd.index("--port") + 1])
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.known: dict[int, float] = {}  # pid -> create time, of the server and its children

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}/ws"

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/healthz", timeout=1) as reply:
                    if reply.status == 200:
                        return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready in {timeout:g} s:\n{self.log_tail()}")

    def processes(self) -> list[psutil.Process]:
        """The server process and its children (the durable engine worker)."""
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                self.known.setdefault(proc.pid, proc.create_time())
        return procs

    def cpu(self) -> float:
        total = 0.0
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def rss(self) -> int:
        total = 0
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        self.processes()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        for pid, created in self.known.items():  # e.g. an engine worker left behind
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                if pid != self.proc.pid and psutil.Process(pid).create_time() == created:
                    os.kill(pid, signal.SIGKILL)
        self._log.close()


@dataclass
class Phase:
    server: str
    name: str
    n: int
    latencies: list[float]
    done: int
    seconds: float
    server_cpu: float
    client_cpu: float
    other_cpu: float
    errors: dict[str, int]
    late: int = 0
    repeat_share: float | None = None
    round: str = ""

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        return percentile(self.latencies, p)

    @property
    def cpu_per_op(self) -> float:
        """Server CPU (process and children) per answer in the window, in microseconds."""
        return self.server_cpu / self.done * 1e6 if self.done else math.nan

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted ``values`` (NaN when empty)."""
    if not values:
        return math.nan
    return values[max(0, min(len(values) - 1, math.ceil(p / 100 * len(values)) - 1))]


class Clients:
    """The client processes, each holding a share of the connections."""

    def __init__(self, count: int) -> None:
        ctx = mp.get_context("spawn")
        self.pipes: list[Pipe] = []
        self.procs: list[Any] = []
        for index in range(count):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=client_main, args=(theirs, 1000 + index), daemon=True)
            proc.start()
            self.pipes.append(ours)
            self.procs.append(proc)

    def call(self, commands: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
        for pipe, command in zip(self.pipes, commands, strict=False):
            pipe.send(command)
        replies = []
        deadline = time.monotonic() + timeout
        for pipe in self.pipes[: len(commands)]:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"a client process did not answer {commands[0]['op']!r} in {timeout:g} s")
            replies.append(pipe.recv())
        return replies

    def cpu(self) -> float:
        total = 0.0
        for proc in self.procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = psutil.Process(proc.pid).cpu_times()
                total += times.user + times.system
        return total

    def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError, BrokenPipeError):
                pipe.send({"op": "exit"})
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(5)


def system_cpu() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.phases: list[Phase] = []
        self.idle: dict[str, float] = {}
        self.clients = Clients(args.client_procs)
        self.servers: list[Server] = []
        self._open_shares = 1
        self.code = code_revision()
        self.round = ""

    def log(self, text: str) -> None:
        print(text, flush=True)

    # servers

    def start_echo(self) -> Server:
        port = free_port()
        cmd = [sys.executable, str(ROOT / "bench" / "echo_server.py"), "--port", str(port)]
        return self._start("echo", cmd, dict(os.environ))

    def start_planwise(self, engine: str) -> Server:
        code = code_revision()
        if code != self.code:  # the tree changed under the run: say so, the numbers may not compare
            self.log(f"[{engine}] NOTE: code is now {code} (run started at {self.code})")
            self.code = f"{self.code} -> {code}"
        port = free_port()
        db = self.workdir / f"planwise-{engine}.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLANWISE_")}
        env.update(
            PLANWISE_DATABASE_URL=f"sqlite+aiosqlite:///{db}",
            PLANWISE_SECRET_KEY=secrets.token_urlsafe(48),
            PLANWISE_RULES_ENGINE=engine,
            PLANWISE_RATE_PER_SECOND=str(RATE_PER_SECOND),
            PLANWISE_RATE_BURST=str(RATE_BURST),
        )
        script = Path(sys.executable).parent / "planwise"
        base = [str(script)] if script.exists() else [sys.executable, "-m", "planwise"]
        cmd = [*base, "serve", "--host", HOST, "--port", str(port), "--demo"]
        return self._start(engine, cmd, env)

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

    def split(self, n: int) -> list[int]:
        k = min(len(self.clients.pipes), n)
        return [n // k + (1 if i < n % k else 0) for i in range(k)]

    def open(self, server: Server, n: int) -> dict[str, int]:
        kind = "echo" if server.name == "echo" else "planwise"
        shares, first, commands = self.split(n), 0, []
        for share in shares:
            commands.append({"op": "open", "url": server.url, "count": share, "kind": kind, "first": first})
            first += share
        replies = self.clients.call(commands, timeout=120)
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
        time.sleep(max(0.0, start_at + warmup + duration - time.time()))
        s1, c1, a1, w1 = server.cpu(), self.clients.cpu(), system_cpu(), time.perf_counter()
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
        )
        if record:
            self.phases.append(phase)
            self.log(self.describe(phase))
        return phase

    def describe(self, ph: Phase) -> str:
        per = 1e6 / ph.done if ph.done else math.nan
        repeat = f", repeated states {ph.repeat_share:.0%}" if ph.repeat_share is not None else ""
        return (
            f"[{ph.server}] {ph.name}: p50 {ph.pct(50):.2f} p95 {ph.pct(95):.2f} p99 {ph.pct(99):.2f} ms, "
            f"{ph.rate:.0f}/s, server {ph.server_cpu * per:.0f} us/answer "
            f"({ph.server_cpu / ph.seconds:.0%} core), client "
            f"{ph.client_cpu / ph.seconds:.0%} core, other {ph.other_cpu / ph.seconds:.0%}, "
            f"errors {ph.errors or 0}{repeat}{f', client late {ph.late}' if ph.late else ''}"
        )

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
        self.idle_memory(echo, a.n_big, 1.0)
        self.close()
        for engine in a.engines:
            server = self.start_planwise(engine)
            try:
                self.planwise_round(server, echo, engine)
            finally:
                self.stop(server)
        self.stop(echo)

    def planwise_round(self, server: Server, echo: Server, engine: str) -> None:
        a = self.args
        self.round = engine
        self.open(server, 1)
        self.run(server, "warmup", 1, a.warmup * 2, 0.2, record=False)
        self.close()
        errors = self.idle_memory(server, a.n_big, 2.0)
        if engine == "durable" or a.n1000_both:
            name = f"N={a.n_big} paced 0.2/s"
            self.run(server, name, a.n_big, a.d_big, 2.0, period=5.0, open_errors=errors)
        self.close()
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
            self.log(f"[{engine}] (under py-spy) {self.describe(phase)}")
        finally:
            try:
                spy_proc.wait(30)
            except subprocess.TimeoutExpired:
                spy_proc.kill()
        self.log(f"[{engine}] py-spy raw stacks: {out}")

    # results

    def find(self, server: str, prefix: str, round: str | None = None) -> Phase | None:
        for ph in self.phases:
            if ph.server == server and ph.name.startswith(prefix) and round in (None, ph.round):
                return ph
        return None

    def echo_for(self, ph: Phase) -> Phase | None:
        """The echo phase with the same N in the same round (run just before ``ph``)."""
        if ph.server == "echo":
            return None
        return self.find("echo", f"N={ph.n} closed", ph.round)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"bench": "ws", "quick": self.args.quick, "code": self.code}
        for engine in self.args.engines:
            e1, e100 = self.find("echo", "N=1 closed", engine), self.find("echo", "N=100 closed", engine)
            n1, n100 = self.find(engine, "N=1 closed"), self.find(engine, "N=100 closed")
            if e1 and n1:
                out[f"p50_n1_vs_echo_{engine}"] = n1.pct(50) / e1.pct(50)
                out[f"{engine}_p50_n1_ms"] = n1.pct(50)
                out[f"{engine}_p99_n1_ms"] = n1.pct(99)
                out[f"echo_p50_n1_ms_{engine}_round"] = e1.pct(50)
            think = self.find(engine, "N=1 think")
            if think:
                out[f"{engine}_p50_n1_think20ms_ms"] = think.pct(50)
            if e100 and n100:
                out[f"throughput_n100_vs_echo_{engine}"] = n100.rate / e100.rate
                out[f"{engine}_n100_per_s"] = n100.rate
                out[f"{engine}_n100_p99_ms"] = n100.pct(99)
                out[f"echo_n100_per_s_{engine}_round"] = e100.rate
                cpu, echo_cpu = n100.cpu_per_op, e100.cpu_per_op
                out[f"{engine}_server_cpu_us_per_answer_n100"] = cpu
                out[f"{engine}_server_cpu_vs_echo_n100"] = cpu / echo_cpu
                out[f"echo_server_cpu_us_per_msg_{engine}_round"] = echo_cpu
                out[f"{engine}_server_core_n100"] = n100.server_cpu / n100.seconds
                out[f"{engine}_client_core_n100"] = n100.client_cpu / n100.seconds
                out[f"{engine}_other_core_n100"] = n100.other_cpu / n100.seconds
                out[f"{engine}_repeated_states_n100"] = n100.repeat_share
            big = self.find(engine, f"N={self.args.n_big} paced")
            if big:
                prefix = "n1000" if engine == "durable" else f"n1000_{engine}"
                out[f"{prefix}_p99_ms"] = big.pct(99)
                out[f"{prefix}_errors"] = big.error_count
                out[f"{prefix}_p50_ms"] = big.pct(50)
                out[f"{prefix}_answers"] = big.done
                out[f"{prefix}_server_cpu_us_per_answer"] = big.cpu_per_op
            if engine in self.idle:
                out[f"idle_kib_per_conn_{engine}"] = self.idle[engine]
        out["idle_kib_per_conn"] = self.idle.get("durable", max(self.idle.values(), default=math.nan))
        out["idle_kib_per_conn_echo"] = self.idle.get("echo")
        out["n_big"] = self.args.n_big
        out["rate_limits"] = {"per_second": RATE_PER_SECOND, "burst": RATE_BURST}
        out["loadavg_end"] = os.getloadavg()[0]
        out["targets_met"] = {key: verdict(out.get(key), op, limit)[0] for key, _, op, limit in TARGETS}
        return out

    def table(self) -> str:
        head = (
            f"{'server':<10}{'phase':<19}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'ans/s':>7}"
            f"{'srv us/ans':>11}{'srv core':>9}{'cli core':>9}{'other':>6}{'err':>5}{'p50/echo':>9}"
            f"{'rate/echo':>10}"
        )
        lines = [head, "-" * len(head)]
        for ph in self.phases:
            echo = self.echo_for(ph)
            ratio_p50 = ph.pct(50) / echo.pct(50) if echo else math.nan
            ratio_rate = ph.rate / echo.rate if echo else math.nan
            lines.append(
                f"{ph.server:<10}{ph.name:<19}{ph.pct(50):>8.2f}{ph.pct(95):>8.2f}{ph.pct(99):>8.2f}"
                f"{ph.rate:>7.0f}{ph.cpu_per_op:>11.0f}{ph.server_cpu / ph.seconds:>9.0%}"
                f"{ph.client_cpu / ph.seconds:>9.0%}{ph.other_cpu / ph.seconds:>6.0%}{ph.error_count:>5}"
                f"{_num(ratio_p50, 'x'):>9}{_num(ratio_rate, '%'):>10}"
            )
        lines.append("")
        lines.append("idle KiB per connection: " + ", ".join(f"{k} {v:.1f}" for k, v in self.idle.items()))
        return "\n".join(lines)


def _num(value: float, unit: str) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.2f}x" if unit == "x" else f"{value:.0%}"


def verdict(value: Any, op: str, limit: float) -> tuple[bool | None, str]:
    """(met?, a one-line margin) for one target."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None, "not measured"
    met = value <= limit if op == "<=" else value >= limit
    if limit == 0:
        return met, f"{value} (limit 0)"
    if op == "<=":
        margin = (limit - value) / limit
        text = f"{value:.3g} vs limit {limit:g}: " + (
            f"{margin:.0%} headroom" if met else f"over by {value / limit:.2f}x ({value - limit:+.3g})"
        )
    else:
        margin = (value - limit) / limit
        text = f"{value:.3g} vs floor {limit:g}: " + (
            f"{value / limit:.2f}x the floor" if met else f"short by {-margin:.0%} ({value - limit:+.3g})"
        )
    return met, text


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short smoke run (N=1000 phase uses 200)")
    parser.add_argument("--engines", default="durable,reference", help="comma-separated rules engines")
    parser.add_argument("--client-procs", type=int, default=1, help="client processes (default 1)")
    parser.add_argument("--n1000-both", action="store_true", help="also run the paced N=1000 on reference")
    parser.add_argument("--py-spy", metavar="DIR", help="also py-spy the server during an extra N=100 run")
    args = parser.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if args.quick:
        args.warmup, args.d_n1, args.d_n100, args.n_big, args.d_big = 0.5, 2.0, 3.0, 200, 10.0
    else:
        args.warmup, args.d_n1, args.d_n100, args.n_big, args.d_big = 1.0, 8.0, 12.0, 1000, 40.0
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
        summary = bench.summary()
        print("\n" + bench.table())
        print("\ntargets (issue 3):")
        for key, text, op, limit in TARGETS:
            met, detail = verdict(summary.get(key), op, limit)
            label = {True: "met   ", False: "MISSED", None: "n/a   "}[met]
            print(f"  {label} {text}: {detail}")
        load = os.getloadavg()
        print(f"load average at the end: {load[0]:.2f} {load[1]:.2f}")
        print(orjson.dumps(summary).decode())
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
