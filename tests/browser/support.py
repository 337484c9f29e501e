"""Browser tests: Debian's headless Chromium and the real server (started by tests/servers.py)."""

from __future__ import annotations

import os
from pathlib import Path

from ..servers import ROOT, ServerProcess

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


def browser_server(workdir: Path, engine: str = "reference") -> ServerProcess:
    """A server (not started) for a browser test: the demo catalogue, publishes seen within 0.2 s."""
    return ServerProcess(workdir, {"PLANWISE_RULES_ENGINE": engine, "PLANWISE_PUBLISH_POLL_INTERVAL": "0.2"})
