"""Talk to a real ``planwise serve`` (started by tests/servers.py) the way clients do.

Used by tests/service/test_real_server.py and test_multiprocess.py for what Quart's test client
cannot show: frame limits, floods, slow readers, pings, Origin checks on the real upgrade, restarts,
crashes, several processes. Every wait is bounded; traffic goes only to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ..servers import HOST, ROOT, ServerProcess
from .wsjson import WS

#: ``start_server(name, **env)`` (the fixture in conftest.py): a started server, stopped afterwards.
StartServer = Callable[..., ServerProcess]

#: What the service tests' servers run on: the small example catalogue, a hello timeout short
#: enough to test. ``service_server`` adds these to the shared ``ServerProcess`` defaults.
SERVICE_ENV = {
    "PLANWISE_DEMO_BUNDLE": str(ROOT / "tests" / "fixtures" / "example.json"),
    "PLANWISE_HELLO_TIMEOUT": "0.3",
}


def service_server(workdir: Path, **env: str) -> ServerProcess:
    """A server (not started) for the service tests; ``env`` overrides ``PLANWISE_*`` settings."""
    return ServerProcess(workdir, {**SERVICE_ENV, **env})


# -- WebSocket clients ---------------------------------------------------------------------------


class JsonWs(WS):
    """PROTOCOL.md frames over a plain ``websockets`` client connection."""

    def __init__(self, conn: ClientConnection) -> None:
        super().__init__(conn)
        self.conn = conn

    async def _receive(self) -> str | bytes:
        raw = await self.conn.recv()
        assert isinstance(raw, str), "every server frame is a text frame"
        return raw


def ws_connect(server: ServerProcess, **kwargs: Any) -> connect:
    """A ``websockets`` client for the server's /ws with bounded open/close waits."""
    kwargs.setdefault("open_timeout", 5)
    kwargs.setdefault("close_timeout", 2)
    kwargs.setdefault("proxy", None)  # loopback only, whatever the environment says
    return connect(server.ws_url, **kwargs)


def http_client(server: ServerProcess) -> httpx.AsyncClient:
    """An HTTP client for the server's API (no proxies from the environment, bounded waits)."""
    return httpx.AsyncClient(base_url=server.url, timeout=5.0, trust_env=False)


async def close_code_after(conn: ClientConnection, timeout: float) -> tuple[int | None, list[Any]]:
    """Read (and keep) every remaining frame until the connection closes; return its close code."""
    frames: list[Any] = []
    deadline = time.monotonic() + timeout
    for _ in range(100_000):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"the connection was not closed within {timeout} s")
        try:
            frames.append(json.loads(await asyncio.wait_for(conn.recv(), remaining)))
        except TimeoutError as exc:
            raise AssertionError(f"the connection was not closed within {timeout} s") from exc
        except ConnectionClosed:
            break
    return conn.close_code, frames


async def small_window_socket(server: ServerProcess, rcvbuf: int = 4096) -> socket.socket:
    """A TCP socket connected to the server with a tiny receive buffer (for a client that stops reading)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (HOST, server.port)), 5)
    except BaseException:
        sock.close()
        raise
    return sock


def server_holds(server: ServerProcess, sock: socket.socket) -> bool:
    """Whether the server process still has the other end of ``sock`` open (an fd it owns)."""
    local = sock.getsockname()
    for conn in psutil.Process(server.pid).net_connections(kind="tcp"):
        if conn.raddr and (conn.raddr.ip, conn.raddr.port) == local:
            return True
    return False


# -- a raw WebSocket peer (no automatic pong, no client library behaviour) ----------------------


@dataclass
class RawFrame:
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        if self.opcode == 0x8 and len(self.payload) >= 2:
            code: int = struct.unpack("!H", self.payload[:2])[0]
            return code
        return None


class RawWs:
    """The upgrade handshake over a bare TCP stream, then frames read by hand (pings never answered)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, status: int) -> None:
        self.reader = reader
        self.writer = writer
        self.status = status

    @classmethod
    async def open(
        cls, server: ServerProcess, headers: Mapping[str, str] | None = None, timeout: float = 5.0
    ) -> RawWs:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, server.port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            "GET /ws HTTP/1.1",
            f"Host: {HOST}:{server.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = int(head.split(b" ", 2)[1])
        return cls(reader, writer, status)

    async def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x81, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    async def read_frame(self, timeout: float) -> RawFrame | None:
        """The next server frame, or None at end of stream."""
        try:
            head = await asyncio.wait_for(self.reader.readexactly(2), timeout)
            length = head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            payload = await asyncio.wait_for(self.reader.readexactly(length), timeout)
        except (asyncio.IncompleteReadError, ConnectionResetError):
            return None
        return RawFrame(head[0] & 0x0F, payload)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 2)
