"""The Socket.IO ``userId``: an unverified label kept on the session, which grants nothing.

PROTOCOL.md ("Socket.IO"): a ``userId`` query or auth field is kept on the session (across
reconnections, resumes and server processes: it is in the sessions table) and never grants access
to any session; ``POST /api/enrichments`` with ``userId`` targets verified users (JWT ``sub``) only.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio

from service.logs import RedactQuery
from service.socketio_server import user_label

from ..servers import ServerProcess
from .server_helpers import service_server

TOKEN = "crm-service-token-for-the-label-test"
LABEL = "alice.example-label-7"


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two processes on one SQLite file (changes heard by polling it)."""
    a = service_server(tmp_path / "a", PLANWISE_SERVICE_TOKENS=f"crm={TOKEN}")
    b = service_server(
        tmp_path / "b",
        PLANWISE_SERVICE_TOKENS=f"crm={TOKEN}",
        PLANWISE_DATABASE_URL=f"sqlite+aiosqlite:///{a.database}",
    )
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


async def opened(url: str, **connect: Any) -> tuple[socketio.AsyncClient, dict[str, Any]]:
    """A connected client and its ``session`` event."""
    client = socketio.AsyncClient(reconnection=False)
    sessions: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    client.on("session", sessions.put_nowait)
    client.on("recommendationUpdates", lambda plans, update: updates.put_nowait(update))
    await client.connect(url, transports=["websocket"], wait_timeout=10, **connect)
    session = await asyncio.wait_for(sessions.get(), 10)
    await asyncio.wait_for(updates.get(), 10)  # the opening is over: the label is kept by now
    return client, session


def labels(database: Path) -> dict[str, str | None]:
    with sqlite3.connect(database) as db:
        return dict(db.execute("SELECT id, user_label FROM sessions").fetchall())


@pytest.mark.slow
async def test_the_label_is_kept_across_resumes_and_processes_and_grants_nothing(
    two: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = two
    first, session = await opened(a.url + f"?userId={LABEL}")
    await first.disconnect()
    assert labels(a.database)[session["sessionId"]] == LABEL

    # Resumed on the other process with the token and no userId: the same session, label kept.
    again, resumed = await opened(b.url, auth={"token": session["token"]})
    assert resumed["sessionId"] == session["sessionId"] and resumed["resumed"] is True
    await again.disconnect()
    assert labels(a.database)[session["sessionId"]] == LABEL

    # The same label without the token: a new session, not Alice's.
    other, stranger = await opened(b.url, auth={"userId": LABEL})
    await other.disconnect()
    assert stranger["sessionId"] != session["sessionId"] and stranger["resumed"] is False
    assert labels(a.database)[stranger["sessionId"]] == LABEL

    # A push for the label is for nobody: userId means a verified user (JWT sub) only.
    async with httpx.AsyncClient(base_url=a.url, timeout=10) as http:
        reply = await http.post(
            "/api/enrichments",
            json={"userId": LABEL, "plans": {"basic-5": {"credit": "ok"}}, "source": "crm"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert reply.status_code == 404, reply.text

    # It is not written to the logs (it may be personal data).
    for server in (a, b):
        assert LABEL not in server.log_path.read_text(errors="replace")


@pytest.mark.slow
async def test_a_bad_label_is_not_kept(tmp_path: Path) -> None:
    server = service_server(tmp_path)
    server.start()
    try:
        kept = []
        for label in ("x" * 201, "two\nlines", "   "):
            client, session = await opened(server.url, auth={"userId": label})
            await client.disconnect()
            kept.append(labels(server.database)[session["sessionId"]])
        assert kept == [None, None, None]
    finally:
        server.stop()


def test_what_is_a_label() -> None:
    assert user_label(" alice ") == "alice"
    assert user_label(42) == "42"
    assert user_label("x" * 200) == "x" * 200
    for bad in ("", "x" * 201, "tab\there", "nul\x00", True, None, 1.5, ["a"], {"id": "a"}):
        assert user_label(bad) is None, bad


def test_websocket_urls_are_logged_without_their_secrets() -> None:
    line = '%s - "WebSocket %s" [accepted]'
    url = "/socket.io/?userId=alice%40example.org&EIO=4&transport=websocket&token=s.t&authToken=j.w.t"
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, line, ("127.0.0.1:1", url), None)
    assert RedactQuery().filter(record)
    redacted = "/socket.io/?userId=-&EIO=4&transport=websocket&token=-&authToken=-"
    assert record.getMessage() == f'127.0.0.1:1 - "WebSocket {redacted}" [accepted]'
