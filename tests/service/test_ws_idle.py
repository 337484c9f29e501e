"""An idle /ws connection holds no task, queue or frame of its own (issue 10, idle memory).

Counted in-process on the real app (Quart's test client, real SQLite file): every connection has
the framework's tasks (here the test client's and Quart's two; under uvicorn its own and Quart's
two), and the service's processor and writer tasks exist only while there is work to do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart import Quart

from planwise.app import create_app

from .conftest import WS, settings_for

CONNECTIONS = 20
#: Per connection, the framework's: the test client's task running the app, and Quart's receiver
#: and handler tasks (the service reads on the handler's task).
FRAMEWORK_TASKS = 3


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Quart]:
    app = create_app(settings_for(tmp_path))
    async with app.test_app():
        yield app


def connection_tasks() -> list[str]:
    """Names of running tasks that belong to the service's connections (WsSession's own)."""
    names = []
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        qualname = getattr(coro, "__qualname__", "")
        if qualname.startswith("WsSession."):
            names.append(qualname)
    return names


async def settled(expect: int, timeout: float = 5.0) -> int:
    """The number of tasks once enrichment and writers are done (at most ``timeout`` to get there)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        count = len(asyncio.all_tasks())
        if (count <= expect and not connection_tasks()) or loop.time() > deadline:
            return count
        await asyncio.sleep(0.02)


async def test_idle_connections_have_only_the_frameworks_tasks(app: Quart) -> None:
    client = app.test_client()
    baseline = await settled(len(asyncio.all_tasks()))
    async with contextlib.AsyncExitStack() as stack:
        tabs = []
        for _ in range(CONNECTIONS):
            raw = await stack.enter_async_context(client.websocket("/ws"))
            tab = WS(raw)
            await tab.opening({})
            tabs.append(tab)
        expected = baseline + FRAMEWORK_TASKS * CONNECTIONS
        assert await settled(expected) <= expected
        assert connection_tasks() == []

        # Work starts the connection's tasks; once answered and sent, they are gone again.
        await tabs[0].send("userResponse", {"answers": {"travel": True}}, id="a")
        update = await tabs[0].expect("recommendationUpdates")
        assert update["replyTo"] == "a" and update["revision"] == 1
        assert await settled(expected) <= expected
        assert connection_tasks() == []


async def test_an_update_published_by_another_tab_reaches_an_idle_connection(app: Quart) -> None:
    """The idle tab has no writer; the other tab's publish starts one, outside the idle tab's handler."""
    client = app.test_client()
    async with client.websocket("/ws") as raw1, client.websocket("/ws") as raw2:
        tab1, tab2 = WS(raw1), WS(raw2)
        session = await tab1.opening({})
        await tab2.opening({"token": session["token"]})
        await settled(len(asyncio.all_tasks()))
        assert connection_tasks() == []
        for revision in (1, 2, 3):
            await tab1.send("userResponse", {"answers": {"budget": 10 * revision}}, id=revision)
            assert (await tab1.expect("recommendationUpdates"))["replyTo"] == revision
            other = await tab2.expect("recommendationUpdates")
            assert other["revision"] == revision and "replyTo" not in other
            assert other["answers"]["budget"] == 10 * revision
