"""Clients of the system tests: they talk to nginx only, over TLS, the way real clients do."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from ..service.server_helpers import JsonWs
from .nginx import Nginx

#: Seconds between two answers of one client (well under the 20 messages/s a connection may send).
PACE = 0.05


def http(nginx: Nginx) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=nginx.url, verify=nginx.ssl_context(), timeout=15.0, trust_env=False)


def ws_connect(nginx: Nginx) -> connect:
    return connect(nginx.ws_url, ssl=nginx.ssl_context(), open_timeout=5, close_timeout=2, proxy=None)


@dataclass
class Answerer:
    """One person answering again and again; reconnects through nginx and resumes with its token.

    It keeps what it saw: every acknowledged answer (value, revision), every opening (time,
    resumed, session id, revision), every close (time, code) and every error frame.
    """

    index: int
    token: str | None = None
    session_id: str | None = None
    acked: list[tuple[int, int]] = field(default_factory=list)
    opens: list[tuple[float, bool, str, int]] = field(default_factory=list)
    closes: list[tuple[float, int | None]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    stale_resumes: list[tuple[int, int]] = field(default_factory=list)
    last_sent: int | None = None
    sent = 0

    @property
    def last_acked_revision(self) -> int:
        return self.acked[-1][1] if self.acked else 0

    def acks_since(self, moment: float) -> int:
        return sum(1 for t in self._ack_times if t > moment)

    def __post_init__(self) -> None:
        self._ack_times: list[float] = []

    async def run(self, nginx: Nginx, stop: asyncio.Event) -> None:
        while not stop.is_set():
            code: int | None = None
            try:
                async with ws_connect(nginx) as conn:
                    await self._session(JsonWs(conn), stop)
                    return
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
            except (OSError, TimeoutError, InvalidHandshake):
                code = None
            self.closes.append((time.monotonic(), code))
            await asyncio.sleep(0.05)

    async def _session(self, ws: JsonWs, stop: asyncio.Event) -> None:
        await ws.send("hello", {"token": self.token} if self.token else {})
        session = await ws.expect("session")
        self.opens.append((time.monotonic(), session["resumed"], session["sessionId"], session["revision"]))
        if session["revision"] < self.last_acked_revision:  # a resume must see every acknowledged answer
            self.stale_resumes.append((session["revision"], self.last_acked_revision))
        self.token, self.session_id = session["token"], session["sessionId"]
        await ws.expect("questionnaire")
        while not stop.is_set():
            self.sent += 1
            value = self.sent % 500
            ident = f"c{self.index}-{self.sent}"
            self.last_sent = value
            await ws.send("userResponse", {"questionId": "budget", "value": value}, id=ident)
            while True:
                event, data = await ws.recv(timeout=10)
                if event == "error":
                    self.errors.append(data)
                    break
                if event == "recommendationUpdates" and data.get("replyTo") == ident:
                    self.acked.append((value, data["revision"]))
                    self._ack_times.append(time.monotonic())
                    break
            await asyncio.sleep(PACE)


async def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)


async def stop_all(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    stop.set()
    done, pending = await asyncio.wait(tasks, timeout=20)
    for task in pending:
        task.cancel()
    for task in done:
        with contextlib.suppress(asyncio.CancelledError):
            task.result()  # a client's own failure (an assertion) surfaces here
    assert not pending, f"{len(pending)} clients did not stop"
