"""The lean Engine.IO socket (service/socketio_socket.py) keeps what python-engineio guarantees.

Real servers on loopback: ``planwise serve`` (heartbeat, frame limit, upgrade from long-polling,
acks and order over the endpoint as deployed), and a bare python-socketio server on uvicorn in this
process for what only the socket itself shows (its class, its own packet size check).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import socketio
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from service.socketio_socket import LeanSocket, use_lean_sockets

from ..servers import HOST, ServerProcess, free_port
from .server_helpers import service_server

PING_INTERVAL = 1.0
PING_TIMEOUT = 0.5
FRAME_BYTES = 4096


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """``planwise serve`` with a short heartbeat and a small frame limit."""
    server = service_server(
        tmp_path_factory.mktemp("sio-socket"),
        PLANWISE_PING_INTERVAL=str(PING_INTERVAL),
        PLANWISE_PING_TIMEOUT=str(PING_TIMEOUT),
        PLANWISE_MAX_FRAME_BYTES=str(FRAME_BYTES),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def engineio_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"


async def raw(base: str, namespace: bool = True) -> ClientConnection:
    """A websocket speaking Engine.IO by hand: the OPEN packet read, the namespace joined."""
    conn = await connect(engineio_url(base), proxy=None, open_timeout=5, close_timeout=1, max_size=None)
    opened = await asyncio.wait_for(conn.recv(), 5)
    assert isinstance(opened, str) and opened.startswith("0{"), opened
    if namespace:
        await conn.send("40")
    return conn


async def until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.02)


async def closed_within(conn: ClientConnection, seconds: float, pong: bool = False) -> list[str]:
    """Every packet until the server closes ``conn`` (at most ``seconds``); pings answered if ``pong``."""
    packets: list[str] = []
    async with asyncio.timeout(seconds):
        with contextlib.suppress(ConnectionClosed):
            while True:
                packet = await conn.recv()
                assert isinstance(packet, str)
                packets.append(packet)
                if pong and packet == "2":
                    await conn.send("3")
    return packets


async def test_a_client_that_stops_answering_pings_is_closed(server: ServerProcess) -> None:
    conn = await raw(server.url)
    started = time.monotonic()
    packets = await closed_within(conn, 10 * (PING_INTERVAL + PING_TIMEOUT))
    took = time.monotonic() - started
    assert "2" in packets, "the server pinged"
    assert took >= PING_INTERVAL, f"closed after {took:.2f} s, before a ping was even due"


async def test_a_client_that_answers_pings_stays(server: ServerProcess) -> None:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(server.url, transports=["websocket"], wait_timeout=10)
    try:
        await asyncio.sleep(3 * (PING_INTERVAL + PING_TIMEOUT))
        assert client.connected
        reply = await client.call("userResponse", {}, timeout=10)
        assert "revision" in reply, reply
    finally:
        await client.disconnect()


async def test_a_too_large_packet_closes_the_connection(server: ServerProcess) -> None:
    conn = await raw(server.url)
    await conn.send('42["userResponse",{"x":"' + "a" * FRAME_BYTES + '"}]')
    await closed_within(conn, 5, pong=True)


async def test_polling_upgrades_to_websocket_and_keeps_order_and_acks(server: ServerProcess) -> None:
    client = socketio.AsyncClient(reconnection=False)
    seen: list[str] = []
    updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for event in ("session", "questionnaire"):
        client.on(event, lambda data, event=event: seen.append(event))

    def update(plans: list[Any], data: dict[str, Any]) -> None:
        seen.append("recommendationUpdates")
        updates.put_nowait(data)

    client.on("recommendationUpdates", update)
    await client.connect(server.url, transports=["polling", "websocket"], wait_timeout=10)
    try:
        first = await asyncio.wait_for(updates.get(), 10)
        assert seen[:3] == ["session", "questionnaire", "recommendationUpdates"]
        await until(lambda: client.transport() == "websocket", 10, "upgraded to websocket")
        replies = [await client.call("userResponse", {}, timeout=10) for _ in range(3)]
        assert [r["revision"] for r in replies] == [first["revision"] + i for i in (1, 2, 3)]
    finally:
        await client.disconnect()


# -- the socket itself, on a bare python-socketio server ------------------------------------------


@pytest.fixture
async def bare() -> AsyncIterator[tuple[str, socketio.AsyncServer, list[type]]]:
    """python-socketio on uvicorn with ``use_lean_sockets``; the socket classes seen at connect."""
    sio = socketio.AsyncServer(
        async_mode="asgi",
        max_http_buffer_size=FRAME_BYTES,
        ping_interval=PING_INTERVAL,
        ping_timeout=PING_TIMEOUT,
        logger=False,
    )
    use_lean_sockets(sio.eio)
    classes: list[type] = []

    async def on_connect(sid: str, environ: dict[str, Any]) -> None:
        classes.append(type(sio.eio.sockets[sio.manager.eio_sid_from_sid(sid, "/")]))

    async def on_echo(sid: str, data: Any) -> Any:
        for i in range(20):  # packets queued before the ack: they arrive before it, in order
            await sio.emit("item", i, to=sid)
        return data

    sio.on("connect", on_connect)
    sio.on("echo", on_echo)
    port = free_port()
    # The websocket limit above the socket's own, so that the socket's check is the one that acts.
    config = uvicorn.Config(
        socketio.ASGIApp(sio), host=HOST, port=port, log_level="warning", ws_max_size=16 * FRAME_BYTES
    )
    uv = uvicorn.Server(config)
    task = asyncio.ensure_future(uv.serve())
    await until(lambda: uv.started, 10, "uvicorn started")
    try:
        yield f"http://{HOST}:{port}", sio, classes
    finally:
        uv.should_exit = True
        await task


@pytest.mark.parametrize("transports", [["websocket"], ["polling", "websocket"]])
async def test_every_socket_is_lean_and_keeps_packet_order(
    bare: tuple[str, socketio.AsyncServer, list[type]], transports: list[str]
) -> None:
    url, sio, classes = bare
    client = socketio.AsyncClient(reconnection=False)
    items: list[int] = []
    client.on("item", items.append)
    await client.connect(url, transports=transports, wait_timeout=10)
    try:
        await until(lambda: client.transport() == "websocket", 10, "upgraded to websocket")
        assert await client.call("echo", {"a": 1}, timeout=10) == {"a": 1}
        assert items == list(range(20))
        assert classes == [LeanSocket]
        assert all(type(s) is LeanSocket for s in sio.eio.sockets.values())
    finally:
        await client.disconnect()


async def test_the_socket_closes_on_a_packet_above_max_http_buffer_size(
    bare: tuple[str, socketio.AsyncServer, list[type]],
) -> None:
    url, sio, _ = bare
    conn = await raw(url)
    await conn.send('42["echo","' + "a" * FRAME_BYTES + '"]')  # above the socket's limit only
    await closed_within(conn, 5, pong=True)
    await until(lambda: not sio.eio.sockets, 5, "the socket closed on the server")


async def test_the_socket_closes_a_silent_client(bare: tuple[str, socketio.AsyncServer, list[type]]) -> None:
    url, sio, _ = bare
    conn = await raw(url)
    packets = await closed_within(conn, 10 * (PING_INTERVAL + PING_TIMEOUT))
    assert "2" in packets
    await until(lambda: not sio.eio.sockets, 5, "the socket closed on the server")
