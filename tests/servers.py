"""The one way tests start a real server: ``planwise serve --demo`` as a subprocess on loopback.

Used by the real-server and multi-process service tests (tests/service/server_helpers.py adds
their clients), the browser tests (tests/browser) and the admin's browser test. Each server has its
own work directory (SQLite file, log) and a free 127.0.0.1 port, keeps both across restarts, and
runs in its own process group so that stopping it reaches the durable engine's worker too. Every
wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
SECRET_KEY = "real-server-test-secret-" + "k" * 40
START_TIMEOUT = 90.0  # generous: the durable engine starts slowly on a loaded machine
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (the server retries if it is taken since)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def planwise_command() -> list[str]:
    """The ``planwise`` command of the running interpreter's environment."""
    script = Path(sys.executable).parent / "planwise"
    return [str(script)] if script.exists() else [sys.executable, "-m", "planwise"]


@dataclass
class ServerProcess:
    """One ``planwise serve --demo``; ``env`` adds or overrides ``PLANWISE_*`` settings.

    By default: a SQLite file in ``workdir``, the reference engine, the demo catalogue. The calling
    shell's ``PLANWISE_*`` variables are not passed on.
    """

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
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/ws"

    @property
    def origin(self) -> str:
        """The server's own origin (what a page served by it sends)."""
        return self.url

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
                "PYTHONUNBUFFERED": "1",
                # The work tree first: an editable install made before a package existed maps it
                # as a namespace package (seen with admin/); the subprocess imports what we test.
                "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
            }
        )
        env.update(self.env)
        return env

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the process and wait until ``GET /healthz`` is 200 (a taken port is retried).

        A restart (after ``kill``, ``terminate`` or ``stop``) keeps the port and the database.
        """
        if self.proc is not None:  # a previous run: it must be over (e.g. killed), then reaped
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(STOP_TIMEOUT)
            assert self.proc.poll() is not None, "already running"
            self._reap()
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
            [*planwise_command(), "serve", "--host", HOST, "--port", str(self.port), "--demo"],
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
                    if client.get(self.url + "/healthz").status_code == 200:
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
        """SIGKILL the server process itself, as a crash would (no shutdown code runs); no wait."""
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

    def stop(self) -> None:
        """Stop everything (gracefully if it still runs) and close the log; never raises."""
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.terminate(5.0)
            self._reap()
        if self._log is not None:
            self._log.close()
            self._log = None

    def run_cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run another ``planwise`` command against the same database and settings."""
        return subprocess.run(
            [*planwise_command(), *args],
            cwd=ROOT,
            env=self.environment(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def log_tail(self, lines: int = 40) -> str:
        if self._log is not None:
            self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
