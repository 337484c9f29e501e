"""Two real server processes on one PostgreSQL database serve the same session.

What a client sees when its session is also being changed through another process: an answer sent
through server A reaches the connection on server B (LISTEN/NOTIFY, then B reloads the session
from the database before it evaluates and pushes), and concurrent answers through A and B are each
applied exactly once (the revision is conditional on the one a process last saw; the loser
reloads and re-applies). Servers are started by tests/servers.py and always stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..servers import ServerProcess
from .server_helpers import JsonWs, http_client, service_server, ws_connect

pytestmark = pytest.mark.slow


@pytest.fixture
def servers(tmp_path: Path, pg_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Servers A and B (separate processes) on the same fresh PostgreSQL database."""
    a = service_server(tmp_path / "a", PLANWISE_DATABASE_URL=pg_url)
    b = service_server(tmp_path / "b", PLANWISE_DATABASE_URL=pg_url)
    try:
        a.start()  # migrates and publishes the demo catalogue first
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


async def next_update(ws: JsonWs, revision: int, timeout: float = 10.0) -> dict[str, Any]:
    """The next rules-stage update; it must have ``revision``."""
    update = await ws.expect("recommendationUpdates", timeout=timeout)
    assert update["revision"] == revision, update
    return update


async def test_an_answer_through_one_server_reaches_the_other(
    servers: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = servers
    async with ws_connect(a) as raw_a, ws_connect(b) as raw_b:
        on_a, on_b = JsonWs(raw_a), JsonWs(raw_b)
        session = await on_a.opening({})
        resumed = await on_b.opening({"token": session["token"]})
        assert resumed["resumed"] and resumed["sessionId"] == session["sessionId"]

        await on_a.send("userResponse", {"answers": {"dataUsage": "heavy"}}, id="a1")
        reply = await next_update(on_a, 1)
        assert reply["replyTo"] == "a1"
        pushed = await next_update(on_b, 1)
        assert "replyTo" not in pushed and pushed["answers"] == {"dataUsage": "heavy"}
        assert pushed["plans"] == reply["plans"]

        # ... and the other way round, on top of what A wrote (B's copy was reloaded, not stale).
        await on_b.send("userResponse", {"questionId": "budget", "value": 30}, id="b1")
        assert (await next_update(on_b, 2))["replyTo"] == "b1"
        pushed = await next_update(on_a, 2)
        assert pushed["answers"] == {"dataUsage": "heavy", "budget": 30}

        await on_a.send("reset", {}, id="a2")
        await next_update(on_a, 3)
        assert (await next_update(on_b, 3))["answers"] == {}

    # The HTTP API of either server reads the same state (no stale cache).
    for server in (a, b):
        async with http_client(server) as http:
            got = await http.get(
                f"/api/sessions/{session['sessionId']}",
                headers={"Authorization": f"Bearer {session['token']}"},
            )
            assert got.status_code == 200
            assert (got.json()["revision"], got.json()["answers"]) == (3, {})


async def test_concurrent_answers_through_two_servers_are_each_applied_once(
    servers: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = servers
    count = 15

    def value(question: str, i: int) -> int:
        return i * 10 if question == "budget" else (i - 1) % 10 + 1  # lines: 1-10

    final = {"budget": value("budget", count), "lines": value("lines", count)}
    async with ws_connect(a) as raw_a, ws_connect(b) as raw_b:
        on_a, on_b = JsonWs(raw_a), JsonWs(raw_b)
        session = await on_a.opening({})
        await on_b.opening({"token": session["token"]})

        async def send_all(ws: JsonWs, question: str, tag: str) -> None:
            for i in range(1, count + 1):  # pipelined: no wait for the replies
                await ws.send("userResponse", {"answers": {question: value(question, i)}}, id=f"{tag}{i}")

        async def collect(ws: JsonWs, tag: str) -> tuple[dict[str, int], dict[str, Any]]:
            """Replies to this client's messages (id -> revision) and the newest update seen."""
            replies: dict[str, int] = {}
            newest: dict[str, Any] = {"revision": -1}
            while len(replies) < count or newest["revision"] < 2 * count:
                update = await ws.expect("recommendationUpdates", timeout=15)
                if str(update.get("replyTo", "")).startswith(tag):
                    replies[update["replyTo"]] = update["revision"]
                if update["revision"] > newest["revision"]:
                    newest = update
            return replies, newest

        (replies_a, newest_a), (replies_b, newest_b), _, _ = await asyncio.gather(
            collect(on_a, "a"),
            collect(on_b, "b"),
            send_all(on_a, "budget", "a"),
            send_all(on_b, "lines", "b"),
        )

    # Every message was accepted once, each with its own revision, and none was lost.
    assert len(replies_a) == len(replies_b) == count
    revisions = sorted([*replies_a.values(), *replies_b.values()])
    assert revisions == list(range(1, 2 * count + 1))
    # Each client's own messages were applied in the order it sent them.
    assert [replies_a[f"a{i}"] for i in range(1, count + 1)] == sorted(replies_a.values())
    for newest in (newest_a, newest_b):
        assert newest["revision"] == 2 * count
        assert newest["answers"] == final
    async with http_client(b) as http:
        got = await http.get(
            f"/api/sessions/{session['sessionId']}", headers={"Authorization": f"Bearer {session['token']}"}
        )
    assert (got.json()["revision"], got.json()["answers"]) == (2 * count, final)
