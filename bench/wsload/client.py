"""The load generator: client processes holding WebSocket connections, driven by the orchestrator.

Each process (``client_main``) runs a ``ClientWorker`` that opens connections, answers on them in
closed loop or paced, and times send -> the reply; ``Clients`` is the orchestrator's side.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import gc
import multiprocessing as mp
import random
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from typing import Any

import orjson
import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .answers import Journey
from .config import OPEN_CONCURRENCY, REPLY_TIMEOUT, ROOT, raise_nofile

UPDATE_PREFIX = b'{"event":"recommendationUpdates"'


@dataclass
class Conn:
    ws: ClientConnection
    journey: Journey
    revision: int = 0
    reply_size: int = 0  # bytes of the last reply frame


@dataclass
class RunStats:
    latencies: array.array[float] = field(default_factory=lambda: array.array("d"))
    done: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    late: int = 0
    states: int = 0
    repeats: int = 0
    reply_bytes: int = 0  # the frames answering the messages counted in the window

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
                opened = await self.open_all(**command)
                # The load generator's own collector must not pause it over 10,000 connections
                # (the echo floor's p99 was its full collections): what is open stays out of it.
                gc.collect()
                gc.freeze()
                self.pipe.send(opened)
            elif op == "run":
                self.pipe.send(await self.run(**command))
            else:  # close, exit
                closed = await self.close_all()
                gc.unfreeze()  # the closed connections' cycles can be collected again
                gc.collect()
                self.pipe.send(closed)
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
            "reply_bytes": stats.reply_bytes,
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
            stats.reply_bytes += conn.reply_size
        return True

    async def _reply(self, conn: Conn, message: str, ident: str, stats: RunStats) -> float | None:
        """Read frames until the one answering ``ident``; its arrival time (None if an error)."""
        expected = message.encode()
        while True:
            data = await conn.ws.recv(decode=False)
            arrived = time.perf_counter()
            if self.kind == "echo":
                if data == expected:
                    conn.reply_size = len(data)
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
            conn.reply_size = len(data)
            return arrived


def client_main(pipe: Pipe, seed: int) -> None:
    raise_nofile()
    asyncio.run(ClientWorker(pipe, seed).serve())


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
