"""Settings of the WebSocket load benchmark and the process environment it needs."""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
RATE_PER_SECOND = 100_000  # generous per-connection limits for the load phases (default: 20/s, 40)
RATE_BURST = 10_000
REPLY_TIMEOUT = 10.0  # seconds to wait for one reply before counting a timeout
OPEN_CONCURRENCY = 50
NOFILE_WANTED = 16_384


def code_revision() -> str:
    """The commit under test, '+dirty' when tracked files differ (read-only git; no index refresh)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+dirty" if status else "")


def raise_nofile() -> int:
    """Lift the soft open-file limit (inherited by the servers we start) for 1000+ sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = NOFILE_WANTED if hard == resource.RLIM_INFINITY else min(NOFILE_WANTED, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
