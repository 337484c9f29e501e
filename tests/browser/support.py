"""The real server for browser tests: ``planwise serve`` as a subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("PLANWISE_CHROMIUM", "/usr/bin/chromium")
# From ARCHITECTURE.md: without the networking flags Chromium tries to reach the internet at start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET_KEY = "browser-tests-secret-key-0123456789abcdef"
START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def planwise_bin() -> str:
    candidate = Path(sys.executable).parent / "planwise"
    return str(candidate) if candidate.exists() else "planwise"


class Server:
    """``planwise serve`` as a subprocess on a fixed port and database (so it can be restarted)."""

    def __init__(self, tmp_path: Path, engine: str = "reference") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp_path = tmp_path
        self.log_path = tmp_path / "server.log"
        self.env = {
            **os.environ,
            "PLANWISE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
            "PLANWISE_SECRET_KEY": SECRET_KEY,
            "PLANWISE_RULES_ENGINE": engine,
            "PLANWISE_PUBLISH_POLL_INTERVAL": "0.2",
            # The work tree first: an editable install made before a package existed maps it as a
            # namespace package (seen with admin/); this makes the subprocess import what we test.
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n--- start {self.starts} ---\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [planwise_bin(), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--demo"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"planwise serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"planwise serve did not become healthy in {START_TIMEOUT}s:\n{self.log()}")

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), like a crash: nothing is flushed or closed politely."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def run_cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run another ``planwise`` command against the same database."""
        return subprocess.run(
            [planwise_bin(), *args],
            cwd=ROOT,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-8000:]
        except OSError:
            return ""
