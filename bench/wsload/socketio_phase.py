"""The Socket.IO phase: ``/socket.io/`` (python-socketio's AsyncClient, websocket transport) next to ``/ws``.

Run in its own client process against the same ``planwise serve``: N=1 closed loop (p50), then
N=100 closed loop (answers/s), each with the connections of both kinds open and the kinds taking
turns (0.25 s and 1 s blocks, ``/ws`` first) so that both see the same machine. Each connection
answers the questionnaire one question at a time (``Journey``); the latency is send -> the
``recommendationUpdates`` (stage ``rules``) of the new revision.
Targets (issue 9): Socket.IO p50 <= 1.5x ``/ws``, answers/s >= 60% of ``/ws``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import statistics
import time
from typing import Any

import orjson
import socketio
from websockets.asyncio.client import connect

from .answers import Journey

TARGET_P50_RATIO = 1.5
TARGET_THROUGHPUT_SHARE = 0.6
# Each kind its own answer sequences: with the same ones, whichever came second was served from the
# evaluation cache (the server's LRU keyed by the answers) for every state the first had reached.
_SEEDS = {"ws": 0, "socketio": 100_000}


class _OrJson:
    """orjson for the Socket.IO client's packets, as the ``/ws`` client parses with orjson.

    python-socketio's default is the json module (with a ``parse_int`` hook): about 3x slower, and
    every ``recommendationUpdates`` carries the plans twice (the plans, then the whole update), so
    with it the client, not the server, was most of the measured difference from ``/ws``.
    """

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(data: str | bytes, **_: Any) -> Any:
        return orjson.loads(data)


class _WsConn:
    def __init__(self, url: str, seed: int) -> None:
        self.url = url.replace("http://", "ws://") + "/ws"
        self.rng = random.Random(seed)

    async def open(self) -> None:
        self.ws = await connect(self.url, compression=None, proxy=None, max_size=2**22)
        self.revision = 0
        questions: list[dict[str, Any]] = []
        while True:
            frame = orjson.loads(await self.ws.recv())
            if frame["event"] == "session":
                self.revision = frame["data"]["revision"]
            elif frame["event"] == "questionnaire":
                questions = frame["data"]["questions"]
            elif frame["event"] == "recommendationUpdates":
                break
        self.journey = Journey(questions, self.rng)

    async def answer(self) -> float:
        self.revision += 1
        message = {
            "event": "userResponse",
            "data": {"answers": self.journey.next_answers()},
            "id": self.revision,
        }
        start = time.perf_counter()
        await self.ws.send(orjson.dumps(message).decode())
        while True:
            frame = orjson.loads(await self.ws.recv())
            data = frame["data"]
            if frame["event"] == "recommendationUpdates" and data.get("replyTo") == self.revision:
                self.journey.hidden = {q["id"] for q in data["questions"] if not q["visible"]}
                return time.perf_counter() - start
            if frame["event"] == "error":
                raise RuntimeError(data)

    async def close(self) -> None:
        await self.ws.close()


class _SioConn:
    def __init__(self, url: str, seed: int) -> None:
        self.url = url
        self.rng = random.Random(seed)
        self.client = socketio.AsyncClient(reconnection=False, json=_OrJson)
        self.updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.questions: list[dict[str, Any]] = []
        self.client.on("recommendationUpdates", self._update)
        self.client.on("questionnaire", self._questionnaire)

    async def _update(self, plans: list[Any], update: dict[str, Any]) -> None:
        self.updates.put_nowait(update)

    async def _questionnaire(self, data: dict[str, Any]) -> None:
        self.questions = data["questions"]

    async def open(self) -> None:
        await self.client.connect(self.url, transports=["websocket"], wait_timeout=10)
        first = await asyncio.wait_for(self.updates.get(), 10)
        self.revision = first["revision"]
        self.journey = Journey(self.questions, self.rng)

    async def answer(self) -> float:
        self.revision += 1
        start = time.perf_counter()
        await self.client.emit("userResponse", self.journey.next_answers())
        while True:
            update = await self.updates.get()
            if update["revision"] == self.revision and update["stage"] == "rules":
                self.journey.hidden = {q["id"] for q in update["questions"] if not q["visible"]}
                return time.perf_counter() - start

    async def close(self) -> None:
        await self.client.disconnect()


async def _interleaved(
    url: str, n: int, duration: float, warmup: float, block: float
) -> list[dict[str, Any]]:
    """N connections of each transport, closed loop, the two kinds taking turns in blocks.

    ``/ws`` runs for ``block`` seconds while the Socket.IO connections wait, then its answers in
    flight finish, then the same for Socket.IO, and so on, until each kind has run ``duration``
    seconds (after ``warmup`` seconds of turns that are not counted). Both kinds see the same
    machine: it is shared, and the load changed between two separate windows by more than the
    differences measured here. A block's time includes its drain, so answers/s is fair to both.
    """
    kinds = ("ws", "socketio")
    conns = {k: [(_WsConn if k == "ws" else _SioConn)(url, _SEEDS[k] + i) for i in range(n)] for k in kinds}
    for kind in kinds:
        for i in range(0, n, 20):
            await asyncio.gather(*(c.open() for c in conns[kind][i : i + 20]))
    go = {kind: asyncio.Event() for kind in kinds}
    busy = dict.fromkeys(kinds, 0)
    idle = {kind: asyncio.Event() for kind in kinds}
    latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
    state = {"measuring": False, "stop": False}

    async def loop(kind: str, conn: Any) -> None:
        while True:
            await go[kind].wait()
            if state["stop"]:
                return
            busy[kind] += 1
            idle[kind].clear()
            took = await conn.answer()
            busy[kind] -= 1
            if state["measuring"]:
                latencies[kind].append(took)
            if busy[kind] == 0:
                idle[kind].set()

    tasks = [asyncio.ensure_future(loop(kind, c)) for kind in kinds for c in conns[kind]]
    spent = dict.fromkeys(kinds, 0.0)

    async def turn(kind: str) -> float:
        began = time.perf_counter()
        go[kind].set()
        await asyncio.sleep(block)
        go[kind].clear()
        if busy[kind]:
            await idle[kind].wait()
        return time.perf_counter() - began

    start = time.perf_counter()
    while time.perf_counter() < start + warmup:
        for kind in kinds:
            await turn(kind)
    state["measuring"] = True
    while min(spent.values()) < duration:
        for kind in kinds:
            spent[kind] += await turn(kind)
    state["stop"] = True
    for event in go.values():
        event.set()
    await asyncio.gather(*tasks)
    await asyncio.gather(*(c.close() for k in kinds for c in conns[k]), return_exceptions=True)
    return [_summary(kind, n, latencies[kind], spent[kind]) for kind in kinds]


def _summary(kind: str, n: int, latencies: list[float], elapsed: float) -> dict[str, Any]:
    latencies.sort()
    return {
        "kind": kind,
        "n": n,
        "answers": len(latencies),
        "per_second": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else None,
        "p95_ms": latencies[int(len(latencies) * 0.95)] * 1000 if latencies else None,
    }


def _child(url: str, d_n1: float, d_n100: float, warmup: float, out: Any) -> None:
    async def run() -> list[dict[str, Any]]:
        return [
            *await _interleaved(url, 1, d_n1, warmup, block=0.25),
            *await _interleaved(url, 100, d_n100, warmup, block=1.0),
        ]

    out.send(asyncio.run(run()))


def run_socketio_phase(url: str, d_n1: float, d_n100: float, warmup: float) -> dict[str, Any]:
    """Both transports at N=1 and N=100 in a client process of their own; the figures and ratios."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(url, d_n1, d_n100, warmup, child), daemon=True)
    proc.start()
    try:
        if not parent.poll(4 * (d_n1 + d_n100 + 2 * warmup) + 120):
            raise RuntimeError("the Socket.IO phase did not finish")
        results: list[dict[str, Any]] = parent.recv()
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
    by = {(r["kind"], r["n"]): r for r in results}
    p50_ratio = by[("socketio", 1)]["p50_ms"] / by[("ws", 1)]["p50_ms"]
    share = by[("socketio", 100)]["per_second"] / by[("ws", 100)]["per_second"]
    return {
        "phases": results,
        "p50_ratio_n1": p50_ratio,
        "throughput_share_n100": share,
        "p50_met": p50_ratio <= TARGET_P50_RATIO,
        "throughput_met": share >= TARGET_THROUGHPUT_SHARE,
    }


def describe_socketio(engine: str, result: dict[str, Any]) -> list[str]:
    lines = []
    for r in result["phases"]:
        label = "/ws       " if r["kind"] == "ws" else "/socket.io"
        lines.append(
            f"[{engine}] {label} N={r['n']:<3} closed loop: {r['answers']} answers, {r['per_second']:.0f}/s, "
            f"p50 {r['p50_ms']:.2f} ms, p95 {r['p95_ms']:.2f} ms"
        )
    lines.append(
        f"[{engine}] Socket.IO vs /ws: p50 at N=1 {result['p50_ratio_n1']:.2f}x "
        f"(target <= {TARGET_P50_RATIO}x: {'met' if result['p50_met'] else 'MISSED'}), "
        f"answers/s at N=100 {result['throughput_share_n100']:.0%} "
        f"(target >= {TARGET_THROUGHPUT_SHARE:.0%}: {'met' if result['throughput_met'] else 'MISSED'})"
    )
    return lines
