"""Servers under test: a subprocess in its own process group, its readiness, CPU and memory."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from .config import HOST, ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Server:
    """A server subprocess in its own process group; stopped gracefully, then killed."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.port = int(cmd[cmd.index("--port") + 1])
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.known: dict[int, float] = {}  # pid -> create time, of the server and its children
        self.hooked = any(part.endswith("bench_server.py") for part in cmd)
        self.workers = int(cmd[cmd.index("--workers") + 1]) if "--workers" in cmd else 1

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}/ws"

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"http://{HOST}:{self.port}/healthz", timeout=1) as reply:
                    if reply.status == 200:
                        return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready in {timeout:g} s:\n{self.log_tail()}")

    def bench_stats(self, reset: bool = True, ticker: bool | None = None) -> dict[str, Any] | None:
        """The hooked server's instruments since the last reset (bench/wsload/hooked.py); None for echo.

        With ``--workers`` each request reaches one process (whichever accepts it): ask until every
        process has answered once, and merge (values joined, the longest stall, counts summed). A
        process asked twice answers for the moment since its reset: that second answer is dropped.
        """
        if not self.hooked:
            return None
        query = f"reset={int(reset)}" + ("" if ticker is None else f"&ticker={int(ticker)}")
        url = f"http://{HOST}:{self.port}/__bench/stats?{query}"
        replies: dict[int, dict[str, Any]] = {}
        for _ in range(50 * self.workers):
            with urllib.request.urlopen(url, timeout=30) as reply:
                result: dict[str, Any] = json.loads(reply.read())
            replies.setdefault(result.get("pid", 0), result)
            if len(replies) >= self.workers:
                break
        if len(replies) == 1:
            return next(iter(replies.values()))
        merged: dict[str, Any] = {
            "update_ms": [],
            "gc_pauses_ms": [],
            "workers_seen": len(replies),
            "updates_per_worker": sorted(len(r["update_ms"]) for r in replies.values()),
        }
        for result in replies.values():
            merged["update_ms"] += result["update_ms"]
            merged["gc_pauses_ms"] += result["gc_pauses_ms"]
            merged["loop_stall_max_ms"] = max(
                merged.get("loop_stall_max_ms", 0.0), result["loop_stall_max_ms"]
            )
            for key in ("loop_stalls_over_20ms", "ticks", "tasks"):
                merged[key] = merged.get(key, 0) + result[key]
        return merged

    def processes(self) -> list[psutil.Process]:
        """The server process and its children (the durable engine worker)."""
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                self.known.setdefault(proc.pid, proc.create_time())
        return procs

    def cpu(self) -> float:
        total = 0.0
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def main_thread_cpu(self) -> float:
        """CPU seconds of the server's main thread (its event loop) alone."""
        with contextlib.suppress(psutil.NoSuchProcess):
            for thread in psutil.Process(self.proc.pid).threads():
                if thread.id == self.proc.pid:
                    return float(thread.user_time + thread.system_time)
        return 0.0

    def rss(self) -> int:
        total = 0
        for proc in self.processes():
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        self.processes()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        for pid, created in self.known.items():  # e.g. an engine worker left behind
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                if pid != self.proc.pid and psutil.Process(pid).create_time() == created:
                    os.kill(pid, signal.SIGKILL)
        self._log.close()


def system_cpu() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)
