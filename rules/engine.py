"""The rules engine behind one narrow async interface: in-process reference, or a durable worker.

``DurableEngine`` runs durable-rules in a child process (``python -m rules.durable_worker``), so
a crash or a hang of the C code costs one evaluation, not the service: a request that times out
kills the worker, and the next call starts a fresh one with every loaded version reloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
from collections import deque
from typing import Any, Protocol

import orjson

from .child_process import start_module
from .durable_compiler import DurableLimit
from .errors import EngineError, EngineUnavailable, Problem, UnknownVersion
from .evaluation import Evaluation
from .model import Catalogue
from .reference import ReferenceEvaluator

_HEADER = struct.Struct(">I")


class Engine(Protocol):
    async def start(self) -> None: ...
    async def load(self, version: int, catalogue: Catalogue) -> None: ...
    async def unload(self, version: int) -> None: ...
    async def evaluate(self, version: int, answers: dict[str, Any]) -> Evaluation: ...
    async def close(self) -> None: ...
    async def stats(self) -> dict[str, Any]: ...


class ReferenceEngine:
    """The plain-Python evaluator, in-process, one evaluator per loaded version."""

    def __init__(self) -> None:
        self._versions: dict[int, ReferenceEvaluator] = {}

    async def start(self) -> None:
        return None

    async def load(self, version: int, catalogue: Catalogue) -> None:
        self._versions[version] = ReferenceEvaluator(catalogue, version)

    async def unload(self, version: int) -> None:
        self._versions.pop(version, None)

    async def evaluate(self, version: int, answers: dict[str, Any]) -> Evaluation:
        evaluator = self._versions.get(version)
        if evaluator is None:
            raise UnknownVersion(version)
        return evaluator.evaluate(answers)

    async def close(self) -> None:
        self._versions.clear()

    async def stats(self) -> dict[str, Any]:
        return {"kind": "reference", "versions": sorted(self._versions)}


class _Worker:
    """One worker process, its requests in flight and the task reading its replies.

    The worker answers in request order, so the oldest request in flight is the one it is
    working on. Its time budget starts when it reaches the head of the line: an evaluation
    queued behind a long load, or behind a burst of pipelined requests, is not mistaken for a
    hang. A head request that outlives its budget means a hang: the process is killed.
    """

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.line: deque[tuple[int, float]] = deque()  # (request id, budget) in send order
        self.timer: asyncio.TimerHandle | None = None
        self.alive = True
        self.reason = "the rules engine worker stopped"
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while True:
                header = await stdout.readexactly(_HEADER.size)
                (size,) = _HEADER.unpack(header)
                reply = orjson.loads(await stdout.readexactly(size))
                self._answered(reply.get("id"))
                future = self.pending.pop(reply.get("id"), None)
                if future is not None and not future.done():
                    future.set_result(reply)
                if reply.get("fatal"):
                    detail = reply["error"]["message"]
                    self.reason = f"the rules engine failed and is being restarted: {detail}"
        except (asyncio.IncompleteReadError, ConnectionError, orjson.JSONDecodeError):
            pass
        code = await self.process.wait()
        self.fail(f"{self.reason} (worker exited with status {code})")

    def send(self, request_id: int, frame: bytes, budget: float) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if not self.alive:
            future.set_exception(EngineUnavailable(self.reason))
            return future
        self.pending[request_id] = future
        self.line.append((request_id, budget))
        if len(self.line) == 1:
            self._arm()
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(frame)  # no drain: frames are small and the reader keeps the pipe moving
        return future

    def _answered(self, request_id: Any) -> None:
        while self.line:
            done, _ = self.line.popleft()
            if done == request_id:
                break
        self._arm()

    def _arm(self) -> None:
        """Start the head request's clock (now: it is what the worker works on from now on)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.line and self.alive:
            request_id, budget = self.line[0]
            self.timer = asyncio.get_running_loop().call_later(budget, self._expired, request_id, budget)

    def _expired(self, request_id: int, budget: float) -> None:
        if self.alive and self.line and self.line[0][0] == request_id:
            self.fail(f"the rules engine did not answer within {budget:g} s; it is being restarted")
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()  # SIGKILL: a hung C engine ignores anything gentler

    def fail(self, message: str) -> None:
        """Mark dead (keeping the first reason) and fail every request still waiting."""
        if self.alive:
            self.alive = False
            self.reason = message
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.line.clear()
        pending, self.pending = self.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(EngineUnavailable(self.reason))

    async def kill(self, message: str) -> None:
        self.fail(message)
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()
        await self.reader  # it ends at end of output and has nothing left to fail


class DurableEngine:
    """durable-rules in a worker process; requests are pipelined, replies matched by id."""

    def __init__(self, timeout: float = 2.0, *, load_timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.load_timeout = max(load_timeout, timeout)
        self._bundles: dict[int, dict[str, Any]] = {}  # reloaded into a replacement worker
        self._worker: _Worker | None = None
        self._starting: asyncio.Lock | None = None
        self._ids = itertools.count(1)
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        """The current worker's process id (None before start or after a failure)."""
        worker = self._worker
        return worker.process.pid if worker is not None and worker.alive else None

    async def start(self) -> None:
        await self._ensure_worker()

    async def load(self, version: int, catalogue: Catalogue) -> None:
        bundle = catalogue.raw
        if not bundle:
            raise EngineError("the durable engine needs the catalogue's bundle (parse_catalogue keeps it)")
        worker = await self._ensure_worker()
        await self._request(worker, {"op": "load", "version": version, "bundle": bundle}, self.load_timeout)
        self._bundles[version] = bundle

    async def unload(self, version: int) -> None:
        self._bundles.pop(version, None)
        worker = await self._ensure_worker()
        await self._request(worker, {"op": "unload", "version": version}, self.timeout)

    async def evaluate(self, version: int, answers: dict[str, Any]) -> Evaluation:
        if version not in self._bundles:
            raise UnknownVersion(version)
        worker = await self._ensure_worker()
        result = await self._request(
            worker, {"op": "evaluate", "version": version, "answers": answers}, self.timeout
        )
        return Evaluation.from_json(result)

    async def stats(self) -> dict[str, Any]:
        worker = await self._ensure_worker()
        result = await self._request(worker, {"op": "stats"}, self.timeout)
        return {"kind": "durable", "restarts": self.restarts, **result}

    async def close(self) -> None:
        worker, self._worker = self._worker, None
        self._bundles.clear()
        if worker is None:
            return
        worker.fail("the rules engine was closed")
        stdin = worker.process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()  # end of input: the worker exits on its own
        try:
            await asyncio.wait_for(worker.process.wait(), self.timeout)
        except TimeoutError:
            pass
        await worker.kill("the rules engine was closed")

    async def _ensure_worker(self) -> _Worker:
        worker = self._worker
        if worker is not None and worker.alive:
            return worker
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            worker = self._worker
            if worker is not None and worker.alive:
                return worker
            if worker is not None:
                await worker.kill(worker.reason)
                self.restarts += 1
            worker = await self._spawn()
            try:
                for version, bundle in list(self._bundles.items()):
                    request = {"op": "load", "version": version, "bundle": bundle}
                    await self._request(worker, request, self.load_timeout)
            except EngineUnavailable:
                raise
            except EngineError as exc:
                await worker.kill(str(exc))
                raise EngineUnavailable(f"a fresh rules engine worker could not reload: {exc}") from exc
            self._worker = worker
            return worker

    async def _spawn(self) -> _Worker:
        return _Worker(await start_module("rules.durable_worker"))

    async def _request(self, worker: _Worker, request: dict[str, Any], budget: float) -> Any:
        request_id = next(self._ids)
        payload = orjson.dumps({"id": request_id, **request})
        try:
            reply = await worker.send(request_id, _HEADER.pack(len(payload)) + payload, budget)
        except EngineUnavailable:
            await worker.kill(worker.reason)  # reaped before the caller hears of it
            raise
        if reply.get("ok"):
            return reply["result"]
        raise _error_from(reply["error"])


def _error_from(error: dict[str, Any]) -> Exception:
    """The exception a worker's error reply stands for."""
    kind, message = error.get("type"), str(error.get("message", ""))
    if kind == "UnknownVersion":
        return UnknownVersion(message)
    if kind == "DurableLimit":
        return DurableLimit([Problem(p["path"], p["message"]) for p in error.get("problems", [])])
    if kind == "EngineCorrupted":
        return EngineUnavailable(f"the rules engine failed and is being restarted: {message}")
    return EngineError(f"{kind}: {message}")


def make_engine(kind: str, timeout: float = 2.0) -> Engine:
    """``"durable"`` (worker process) or ``"reference"`` (in-process); anything else is an error."""
    if kind == "durable":
        return DurableEngine(timeout)
    if kind == "reference":
        return ReferenceEngine()
    raise ValueError(f"unknown engine {kind!r} (expected 'durable' or 'reference')")
