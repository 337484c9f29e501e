"""Read-your-writes on every host: three real servers on one PostgreSQL database.

A client whose consecutive requests land on different servers (a round-robin load balancer) must
see every change acknowledged before it sent the request, whichever server acknowledged it: the
session read (``GET``), a long poll, and a WebSocket resume. Each server holds the session in
memory, so without the check of the stored revision a read served right after a write elsewhere
could answer from a stale copy (the change notification takes milliseconds to arrive).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..servers import ServerProcess
from .server_helpers import JsonWs, service_server, ws_connect

pytestmark = pytest.mark.slow

ROUNDS = 30


@pytest.fixture
def trio(tmp_path: Path, pg_url: str) -> Iterator[list[ServerProcess]]:
    """A hears changes at once (LISTEN/NOTIFY); B and C only every 60 s, so that a read served
    by them right after a write elsewhere is fresh only if it checks what is stored (the race with
    a notification in flight, made certain)."""
    late = {"PLANWISE_SESSION_SYNC": "poll", "PLANWISE_SESSION_POLL_INTERVAL": "60"}
    servers = [
        service_server(tmp_path / "a", PLANWISE_DATABASE_URL=pg_url),
        service_server(tmp_path / "b", PLANWISE_DATABASE_URL=pg_url, **late),
        service_server(tmp_path / "c", PLANWISE_DATABASE_URL=pg_url, **late),
    ]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


def clients(servers: list[ServerProcess]) -> list[httpx.AsyncClient]:
    return [httpx.AsyncClient(base_url=s.url, timeout=15.0, trust_env=False) for s in servers]


async def new_session(http: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    created = await http.post("/api/sessions", json={})
    assert created.status_code == 201, created.text
    body = created.json()
    return body["sessionId"], {"Authorization": f"Bearer {body['token']}"}


async def test_reads_on_every_server_reflect_writes_acknowledged_by_another(
    trio: list[ServerProcess],
) -> None:
    https = clients(trio)
    try:
        sid, auth = await new_session(https[0])
        for http in https:  # every server now holds the session in memory (the stale-copy case)
            assert (await http.get(f"/api/sessions/{sid}", headers=auth)).status_code == 200
        plan = None
        for i in range(1, ROUNDS + 1):
            writer, reader = https[i % 3], https[(i + 1) % 3]
            budget = 10 * i
            wrote = await writer.post(
                f"/api/sessions/{sid}/responses", json={"answers": {"budget": budget}}, headers=auth
            )
            assert wrote.status_code == 200, wrote.text
            assert wrote.json()["revision"] == i
            plan = wrote.json()["plans"][0]["id"]
            got = (await reader.get(f"/api/sessions/{sid}", headers=auth)).json()
            assert (got["revision"], got["answers"]["budget"]) == (i, budget), f"round {i}"
            assert got["update"]["revision"] == i and got["update"]["answers"]["budget"] == budget

        # A selection made through one server is the session's selection on the next.
        assert plan is not None
        for i in range(3):
            saved = await https[i].post(f"/api/sessions/{sid}/selection", json={"planId": plan}, headers=auth)
            assert saved.status_code == 201, saved.text
            got = (await https[(i + 1) % 3].get(f"/api/sessions/{sid}", headers=auth)).json()
            assert got["selection"]["selectionId"] == saved.json()["selectionId"]
    finally:
        for http in https:
            await http.aclose()


async def test_long_polls_on_another_server_are_fresh_and_woken(trio: list[ServerProcess]) -> None:
    https = clients(trio)
    try:
        sid, auth = await new_session(https[0])
        for http in https:
            await http.get(f"/api/sessions/{sid}", headers=auth)
        for i in range(1, 11):
            writer, poller = https[i % 3], https[(i + 1) % 3]
            wrote = await writer.post(
                f"/api/sessions/{sid}/responses", json={"answers": {"lines": i}}, headers=auth
            )
            assert wrote.json()["revision"] == i
            # Anything newer than an older revision: the newest one at once, not a stale copy.
            started = time.monotonic()
            polled = await poller.get(
                f"/api/sessions/{sid}/updates", params={"after": i - 1, "version": 1, "wait": 5}, headers=auth
            )
            assert polled.status_code == 200 and polled.json()["revision"] == i, f"round {i}"
            assert time.monotonic() - started < 2.0

        # A poll waiting on one server is woken by a change acknowledged by another (A hears it).
        poll = asyncio.create_task(
            https[0].get(
                f"/api/sessions/{sid}/updates",
                params={"after": 10, "version": 1, "stage": "enriched", "wait": 10},
                headers=auth,
            )
        )
        await asyncio.sleep(0.3)
        wrote = await https[2].post(
            f"/api/sessions/{sid}/responses", json={"answers": {"lines": 1}}, headers=auth
        )
        changed = time.monotonic()
        polled = await asyncio.wait_for(poll, 10)
        assert polled.status_code == 200 and polled.json()["revision"] == wrote.json()["revision"] == 11
        assert time.monotonic() - changed < 1.0
    finally:
        for http in https:
            await http.aclose()


async def test_a_websocket_resume_on_another_server_sees_the_acknowledged_answer(
    trio: list[ServerProcess],
) -> None:
    a, b, c = trio
    async with ws_connect(a) as raw:
        ws = JsonWs(raw)
        session = await ws.opening({})
    for server in (b, c):  # both hold the session from now on
        async with ws_connect(server) as raw:
            await JsonWs(raw).opening({"token": session["token"]})
    for i in range(1, 16):
        writer, reader = trio[i % 3], trio[(i + 1) % 3]
        async with ws_connect(writer) as raw:
            ws = JsonWs(raw)
            await ws.opening({"token": session["token"]})
            await ws.send("userResponse", {"questionId": "budget", "value": i}, id=f"m{i}")
            ack: dict[str, Any] = await ws.expect("recommendationUpdates")
            assert (ack["replyTo"], ack["revision"]) == (f"m{i}", i)
        async with ws_connect(reader) as raw:
            ws = JsonWs(raw)
            await ws.send("hello", {"token": session["token"]})
            resumed = await ws.expect("session")
            assert resumed["resumed"] and resumed["revision"] == i, f"round {i}"
            await ws.expect("questionnaire")
            first = await ws.expect("recommendationUpdates", any_stage=True)
            assert (first["revision"], first["answers"]["budget"]) == (i, i)
