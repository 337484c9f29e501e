"""Run ``planwise serve`` as a real subprocess on a free loopback port, and talk to it.

Used by tests/service/test_real_server.py for what Quart's test client cannot show: frame limits,
floods, slow readers, pings, Origin checks on the real upgrade, restarts and crashes. Every wait is
bounded; traffic goes only to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .wsjson import WS

ROOT = Path(__file__).resolve().parents[2]
PLANWISE = ROOT / ".venv" / "bin" / "planwise"
EXAMPLE_BUNDLE = ROOT / "tests" / "fixtures" / "example.json"
HOST = "127.0.0.1"
SECRET_KEY = "real-server-test-secret-" + "k" * 40
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (the server retries if it is taken since)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """One ``planwise serve --demo`` process on its own SQLite file; restartable on the same database."""

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None
    starts: int = 0

    @property
    def database(self) -> Path:
        return self.workdir / "db.sqlite"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/ws"

    @property
    def origin(self) -> str:
        """The server's own origin (what a page served by it sends)."""
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "the server is not running"
        return self.proc.pid

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLANWISE_")}
        env.update(
            {
                "PLANWISE_DATABASE_URL": f"sqlite+aiosqlite:///{self.database}",
                "PLANWISE_SECRET_KEY": SECRET_KEY,
                "PLANWISE_RULES_ENGINE": "reference",
                "PLANWISE_DEMO_BUNDLE": str(EXAMPLE_BUNDLE),
                "PLANWISE_HELLO_TIMEOUT": "0.3",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.env)
        return env

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the process and wait until ``GET /healthz`` is 200 (a taken port is retried)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        first = self.starts == 0
        for attempt in range(3):
            self._spawn()
            try:
                self.wait_healthy(timeout)
                return
            except RuntimeError:
                taken = "address already in use" in self.log_tail().lower()
                self._reap()
                if not taken or attempt == 2:
                    raise
                if first:
                    self.port = free_port()
                else:  # a restart keeps its port (clients reconnect to it): wait for it instead
                    time.sleep(0.5)

    def _spawn(self) -> None:
        if self._log is None:
            self._log = self.log_path.open("ab")
        self._log.write(f"\n==== start on port {self.port} ====\n".encode())
        self._log.flush()
        self.starts += 1
        self.proc = subprocess.Popen(
            [str(PLANWISE), "serve", "--host", HOST, "--port", str(self.port), "--demo"],
            cwd=ROOT,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: cleanup reaches a durable worker too
        )

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            for _ in range(int(timeout / 0.05) + 1):
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited during start-up:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.base_url + "/healthz").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"the server was not healthy within {timeout} s:\n{self.log_tail()}")

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM (graceful shutdown) and wait; returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._reap()

    def kill(self) -> None:
        """SIGKILL the server process itself, as a crash would (no shutdown code runs)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        finally:
            self._reap()

    def _reap(self) -> None:
        """Make sure the process and anything it started (its process group) are gone."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group we created with start_new_session

    def close(self) -> None:
        """Stop everything (gracefully if it still runs) and close the log; never raises."""
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.terminate(5.0)
            self._reap()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        if self._log is not None:
            self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


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
    return httpx.AsyncClient(base_url=server.base_url, timeout=5.0, trust_env=False)


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
