"""The public session cookie on a real server: ``__Host-planwise_session`` (Secure, Path=/, no Domain,
HttpOnly, SameSite=Lax) behind TLS (PLANWISE_STAFF_COOKIE_SECURE), ``planwise_session`` over plain
HTTP; the HTTP API, /ws and Socket.IO all read the configured name and only that one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio

from ..servers import ServerProcess
from .server_helpers import JsonWs, http_client, service_server, ws_connect

pytestmark = pytest.mark.slow


@pytest.fixture(params=["tls", "plain"])
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    env = {"PLANWISE_STAFF_COOKIE_SECURE": "true"} if request.param == "tls" else {}
    started = service_server(tmp_path / request.param, **env)
    try:
        started.start()
        yield started
    finally:
        started.stop()


def attributes(set_cookie: str) -> dict[str, str]:
    return {
        name.strip().lower(): value.strip()
        for name, _, value in (part.partition("=") for part in set_cookie.split(";")[1:])
    }


async def socketio_session(server: ServerProcess, cookie: str) -> dict[str, Any]:
    client = socketio.AsyncClient(reconnection=False)
    sessions: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    client.on("session", sessions.put_nowait)
    await client.connect(server.url, headers={"Cookie": cookie}, transports=["websocket"], wait_timeout=10)
    try:
        return await asyncio.wait_for(sessions.get(), 10)
    finally:
        await client.disconnect()


async def test_the_session_cookie_is_named_and_read_as_configured(server: ServerProcess) -> None:
    tls = server.env.get("PLANWISE_STAFF_COOKIE_SECURE") == "true"
    name, other = (
        ("__Host-planwise_session", "planwise_session")
        if tls
        else ("planwise_session", "__Host-planwise_session")
    )
    async with http_client(server) as http:
        created = await http.post("/api/sessions", json={})
        assert created.status_code == 201
        session = created.json()
        (set_cookie,) = created.headers.get_list("set-cookie")
        assert set_cookie.startswith(f"{name}={session['token']};")
        flags = attributes(set_cookie)
        assert flags["path"] == "/" and flags["samesite"] == "Lax" and "httponly" in flags
        assert "domain" not in flags
        assert ("secure" in flags) is tls  # over plain HTTP (local development) as before
        sid = session["sessionId"]

        # A browser sends the cookie back (sent by hand here: it keeps Secure ones for https only).
        own = await http.get(f"/api/sessions/{sid}", headers={"Cookie": f"{name}={session['token']}"})
        assert own.status_code == 200 and own.json()["session"]["sessionId"] == sid
        wrong = await http.get(f"/api/sessions/{sid}", headers={"Cookie": f"{other}={session['token']}"})
        assert wrong.status_code == 401

    async with ws_connect(server, additional_headers={"Cookie": f"{name}={session['token']}"}) as raw:
        opened = await JsonWs(raw).opening()
        assert opened["sessionId"] == sid and opened["resumed"] is True
    async with ws_connect(server, additional_headers={"Cookie": f"{other}={session['token']}"}) as raw:
        assert (await JsonWs(raw).opening())["sessionId"] != sid  # the other name is not read

    assert (await socketio_session(server, f"{name}={session['token']}"))["sessionId"] == sid
    assert (await socketio_session(server, f"{other}={session['token']}"))["sessionId"] != sid
